"""Non-request records: lines that are neither a request nor an error (see data/records.toml)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

import polars as pl

from ..schema import OK, RAW, RECORD


@cache
def record_kinds() -> tuple[tuple[str, str], ...]:
    """(what, pattern) of each kind of non-request line, in the order they are tried."""
    data = tomllib.loads(resources.files("logscope.data").joinpath("records.toml").read_text("utf-8"))
    return tuple((item["what"], item["pattern"]) for item in data["record"])


def name_records(parsed: pl.DataFrame) -> pl.DataFrame:
    """`parsed` with RECORD set on the lines no layout took that a known kind of non-request line matches.

    Only lines already refused are looked at, so the cost grows with them, not with the log."""
    if RECORD not in parsed.columns:
        parsed = parsed.with_columns(pl.lit(None, pl.String).alias(RECORD))
    refused = ~pl.col(OK) & pl.col(RECORD).is_null()
    what = pl.lit(None, pl.String)
    for name, pattern in reversed(record_kinds()):
        what = pl.when(pl.col(RAW).str.contains(pattern)).then(pl.lit(name)).otherwise(what)
    return parsed.with_columns(pl.when(refused).then(what).otherwise(pl.col(RECORD)).alias(RECORD))
