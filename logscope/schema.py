"""The canonical request frame: the one set of columns every parser produces and every analysis reads.

See docs/model.md ("Canonical columns") for the contract. Unknown is null, never a
made-up default: a parser that cannot see a field leaves it null.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

UTC_DATETIME = pl.Datetime("us", "UTC")
#: Text that repeats across requests (addresses, agents, methods, paths, file names) is stored once and
#: referenced by a 32-bit code: a tenth of the memory, and sorts, group-bys and comparisons on integers.
#: String operations go through `.cat` (`starts_with`, `ends_with`) or, per distinct value, `.cast(pl.String)`.
CODED = pl.Categorical()

#: Canonical column -> dtype, in output order. `source`/`line` locate the evidence.
CANONICAL: dict[str, pl.DataType] = {
    "ts": UTC_DATETIME,
    "client_ip": CODED,
    "method": CODED,
    "path": CODED,
    "query": pl.String(),
    "protocol": CODED,
    "scheme": CODED,
    "host": CODED,
    "status": pl.Int16(),
    "bytes_sent": pl.Int64(),
    "duration_s": pl.Float64(),
    "user_agent": CODED,
    "referer": pl.String(),
    # Logged only by some formats; null where the log lacks them.
    "location": pl.String(),
    "hsts": CODED,
    "has_authorization": pl.Boolean(),
    "tls_version": CODED,
    "forwarded_for": pl.String(),
    "server_port": pl.Int32(),
    # Behind an edge (a load balancer, a CDN, a proxy that logs): "edge" when the log shows the edge answered by
    # itself (its own redirect, say), "origin" when the server behind it did; null where the log cannot tell.
    "answered_by": CODED,
    # The MCP request headers, where logged (Caddy logs every request header; an nginx layout can add
    # $http_mcp_method …): how a client speaks, stateless (2026-07-28: server/discover, no session) or in a
    # session. Of Mcp-Session-Id only whether it was sent: a session id is a credential of sorts.
    "mcp_method": CODED,
    "mcp_protocol_version": CODED,
    "mcp_session": pl.Boolean(),
    "source": CODED,
    "line": pl.UInt64(),
}

#: The canonical columns stored as codes.
CODED_COLUMNS = tuple(name for name, dtype in CANONICAL.items() if dtype == CODED)

#: Internal bookkeeping columns a parser adds per raw line; never part of the canonical frame.
OK = "_ok"
REASON = "_reason"
#: Set (to what it is) on a line that is no request and no error either: a server's start-up message, a W3C
#: `#Fields` directive, a TCP connection record. Such a line is counted, not rejected.
RECORD = "_record"
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


def by_distinct(values: pl.Series, compute: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """`compute` evaluated once per distinct value of any column and joined back to every row (a hash of each
    row, where `per_distinct` reads a coded column's codes): for work that costs more per value than a join."""
    distinct = values.unique()
    table = pl.DataFrame({"v": distinct, "r": compute(distinct)})
    joined = values.to_frame("v").join(table, on="v", how="left", maintain_order="left", nulls_equal=True)
    return joined["r"].alias(values.name)


def per_distinct(values: pl.Series, compute: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """`compute` (over a String series) evaluated once per distinct value and mapped back to every row.

    A coded column's values are looked up by their code (one gather), so a regex over a path column of
    millions of rows runs once per distinct path.
    """
    if values.dtype != CODED:
        return compute(values.cast(pl.String)).alias(values.name)
    codes = values.to_physical()
    distinct = values.unique()
    results = compute(distinct.cast(pl.String))
    present = distinct.is_not_null()
    size = int(codes.max() or 0) + 1
    table = pl.repeat(None, size, dtype=results.dtype, eager=True).scatter(distinct.to_physical().filter(present), results.filter(present))
    out = table.gather(codes).alias(values.name)
    if codes.null_count():
        for_null = results.filter(~present)
        out = out.set(codes.is_null(), for_null[0]) if for_null[0] is not None else out
    return out
