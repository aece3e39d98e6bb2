"""The canonical request frame: the one set of columns every parser produces and every analysis reads.

See ../shared/spec/analysis-model.md ("Canonical columns") for the contract. Unknown is null, never a
made-up default: a parser that cannot see a field leaves it null.
"""

from __future__ import annotations

import polars as pl

UTC_DATETIME = pl.Datetime("us", "UTC")

#: Canonical column -> dtype, in output order. `source`/`line` locate the evidence.
CANONICAL: dict[str, pl.DataType] = {
    "ts": UTC_DATETIME,
    "client_ip": pl.String(),
    "method": pl.String(),
    "path": pl.String(),
    "query": pl.String(),
    "protocol": pl.String(),
    "scheme": pl.String(),
    "host": pl.String(),
    "status": pl.Int16(),
    "bytes_sent": pl.Int64(),
    "duration_s": pl.Float64(),
    "user_agent": pl.String(),
    "referer": pl.String(),
    # Logged only by some formats; null where the log lacks them.
    "location": pl.String(),
    "hsts": pl.String(),
    "has_authorization": pl.Boolean(),
    "tls_version": pl.String(),
    "forwarded_for": pl.String(),
    "server_port": pl.Int32(),
    "source": pl.String(),
    "line": pl.UInt64(),
}

#: Internal bookkeeping columns a parser adds per raw line; never part of the canonical frame.
OK = "_ok"
REASON = "_reason"
RAW = "raw"


def empty_frame() -> pl.DataFrame:
    """A zero-row canonical frame, for inputs with nothing parsed."""
    return pl.DataFrame(schema=CANONICAL)


#: Columns that can carry a credential in a query string: redacted at ingest, before any output.
REDACTED_COLUMNS = ("query", "referer", "location")


def conform(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Add missing canonical columns as typed nulls, cast present ones, order canonical columns first.

    Columns a format logs beyond the canonical set (unknown nginx variables, say) are kept after them.
    """
    lf = frame.lazy()
    names = lf.collect_schema().names()
    canonical = [
        (pl.col(name).cast(dtype, strict=False) if name in names else pl.lit(None, dtype)).alias(name) for name, dtype in CANONICAL.items()
    ]
    extras = [pl.col(n) for n in names if n not in CANONICAL and not n.startswith("_") and n != RAW]
    return lf.select(*canonical, *extras)
