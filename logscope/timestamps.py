"""Times as every output writes them: ISO 8601 in UTC with a `Z` (the spec's JSON layout).

A module of its own so that detectors, the live events and the reports share it without importing each
other."""

from __future__ import annotations

from datetime import datetime

import polars as pl


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as the report writes every time."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "") + "Z"


def iso_expr(column: str) -> pl.Expr:
    """`iso` as a column expression: whole seconds without a fraction, otherwise microseconds, then Z."""
    ts = pl.col(column).dt.convert_time_zone("UTC")
    return (
        pl.when(ts.dt.microsecond() == 0)
        .then(ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .otherwise(ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        .alias(column)
    )
