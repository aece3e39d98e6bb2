"""The fields of a log line as Polars expressions, shared by the parsers: times, request lines, URIs,
numbers, empty markers, and the redaction of credentials in query strings.

Each function maps whole columns; none looks at a single row from Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl

from ..schema import UTC_DATETIME

# Timestamps outside this window are impossible for an access log we analyse (a millisecond epoch read
# as seconds lands in the year 56355); such lines are rejected rather than sorted to the ends.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

TIME_LOCAL_FORMAT = "%d/%b/%Y:%H:%M:%S %z"

# Caddy encodes the negotiated TLS version as Go's uint16 constant.
TLS_VERSION_NAMES = {"769": "TLSv1", "770": "TLSv1.1", "771": "TLSv1.2", "772": "TLSv1.3", "768": "SSLv3"}


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """`-` and the empty string are how access logs write 'no value': make them null."""
    return pl.when((expr == "-") | (expr == "")).then(None).otherwise(expr)  # two compares beat is_in here


def plausible(ts: pl.Expr) -> pl.Expr:
    return pl.when(ts.is_between(pl.lit(EARLIEST, UTC_DATETIME), pl.lit(LATEST, UTC_DATETIME))).then(ts)


def parse_time_local(expr: pl.Expr) -> pl.Expr:
    """nginx `$time_local` / Apache `%t`: `20/May/2026:20:20:00 +0200`, converted to UTC."""
    return expr.str.to_datetime(TIME_LOCAL_FORMAT, strict=False, time_unit="us").dt.convert_time_zone("UTC")


def _usual_iso8601(expr: pl.Expr) -> pl.Expr:
    """The usual form, UTC with `Z` (the edges, Traefik, Go programs)."""
    return expr.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us").dt.replace_time_zone("UTC")


def _any_iso8601(expr: pl.Expr, naive_tz: str) -> pl.Expr:
    usual = _usual_iso8601(expr)
    # Only what the usual form does not read takes the normalising regexes below (a null skips them).
    norm = (
        pl.when(usual.is_null())
        .then(expr)
        .str.strip_chars()
        .str.replace(r"^(\d{4})/(\d{2})/(\d{2})[ T]", "${1}-${2}-${3}T")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        .str.replace(r"[Zz]$", "+00:00")
        # chrono reads at most nanoseconds; Traefik writes exactly nine digits, others may write more.
        .str.replace(r"(\.\d{9})\d+", "${1}")
    )
    aware = norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")
    naive = norm.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone(
        naive_tz, ambiguous="earliest", non_existent="null"
    )
    return pl.coalesce(usual, aware.dt.convert_time_zone("UTC"), naive.dt.convert_time_zone("UTC"))


def _first_that_reads_all(*readings: Callable[[pl.Expr], pl.Expr]) -> Callable[[pl.Series], pl.Series]:
    """A batch function giving the first of `readings` that reads every value of the batch, else the last.

    Each reading but the last gives what the last gives wherever it is not null (the last is a coalesce
    that tries it first), so the answer is the last one's; a batch of one usual form pays only for that
    form. Polars evaluates every branch of a `when` or `coalesce` in full, even over nulls: for ALB's two
    times, the normalising regexes over all-null columns cost as much as the parse itself."""

    def read(values: pl.Series) -> pl.Series:
        frame = values.to_frame("v")
        for reading in readings[:-1]:
            quick = frame.select(reading(pl.col("v"))).to_series()
            if quick.null_count() == values.null_count():
                return quick.alias(values.name)
        return frame.select(readings[-1](pl.col("v"))).to_series().alias(values.name)

    return read


def parse_iso8601(expr: pl.Expr, naive_tz: str = "UTC") -> pl.Expr:
    """ISO 8601 and its common relatives (`Z`, offsets with or without colon, nanoseconds, a space
    instead of `T`, Caddy's `2025/04/19 23:57:09.241`). Times without an offset are read in `naive_tz`.
    """
    read = _first_that_reads_all(_usual_iso8601, lambda e: _any_iso8601(e, naive_tz))
    return expr.map_batches(read, return_dtype=UTC_DATETIME, is_elementwise=True)


def parse_epoch(expr: pl.Expr, unit_seconds: float = 1.0) -> pl.Expr:
    """Epoch numbers (`$msec`, Caddy `ts`, also in scientific notation) given in `unit_seconds`."""
    micros = (expr.cast(pl.Float64, strict=False) * (unit_seconds * 1e6)).round(0).cast(pl.Int64, strict=False)
    return micros.cast(UTC_DATETIME)


def parse_haproxy_time(expr: pl.Expr, naive_tz: str = "UTC") -> pl.Expr:
    """HAProxy's `%tr`/`%t`: `25/Feb/2019:16:19:48.143`, local time without an offset (read in `naive_tz`)."""
    naive = expr.str.to_datetime("%d/%b/%Y:%H:%M:%S%.f", strict=False, time_unit="us")
    return naive.dt.replace_time_zone(naive_tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _epoch_number(expr: pl.Expr) -> pl.Expr:
    """Epoch seconds, milli-, micro- or nanoseconds, told apart by size; null for what is not a number."""
    as_text = expr.cast(pl.String)
    number = as_text.cast(pl.Float64, strict=False)
    # Seconds would be past the year 5000 above 1e11: larger numbers are finer units since 1973.
    return (
        pl.when(number > 1e17)  # nanoseconds: whole, so as integers (a float keeps only about 0.3 µs of them)
        .then((as_text.cast(pl.Int64, strict=False) // 1000).cast(UTC_DATETIME))
        .when(number > 1e14)
        .then(parse_epoch(as_text, 1e-6))
        .when(number > 1e11)
        .then(parse_epoch(as_text, 1e-3))
        .when(number.is_not_null())
        .then(parse_epoch(as_text))
    )


def _any_time(expr: pl.Expr, naive_tz: str) -> pl.Expr:
    as_text = expr.cast(pl.String)
    # The text parsers see only the values that are not numbers: string work is skipped for nulls.
    text = pl.when(as_text.cast(pl.Float64, strict=False).is_null()).then(as_text)
    return pl.coalesce(_epoch_number(as_text), _any_iso8601(text, naive_tz), parse_time_local(text))


def parse_any_time(expr: pl.Expr, naive_tz: str = "UTC") -> pl.Expr:
    """A time of unknown style (generic JSON, an edge's two ends): epoch seconds, milli-, micro- or
    nanoseconds (Cloudflare's `unixnano`), ISO 8601 or `$time_local`."""
    read = _first_that_reads_all(_epoch_number, lambda e: _usual_iso8601(e.cast(pl.String)), lambda e: _any_time(e, naive_tz))
    return expr.map_batches(read, return_dtype=UTC_DATETIME, is_elementwise=True)


def to_int(expr: pl.Expr, dtype: pl.DataType | None = None) -> pl.Expr:
    """An integer column from text; `-`, empty and junk become null. `200.0` (from JSON) is accepted."""
    dtype = dtype or pl.Int64()
    text = blank_to_null(expr.cast(pl.String).str.strip_chars())
    direct = text.cast(dtype, strict=False)
    via_float = text.cast(pl.Float64, strict=False)
    whole = pl.when(via_float == via_float.floor()).then(via_float).cast(dtype, strict=False)
    return pl.coalesce(direct, whole)


def to_float(expr: pl.Expr) -> pl.Expr:
    return blank_to_null(expr.cast(pl.String).str.strip_chars()).cast(pl.Float64, strict=False)


REQUEST_LINE = r"^(?P<method>[A-Za-z][A-Za-z0-9_-]*) (?P<target>\S+)(?: (?P<protocol>[A-Za-z]+/[0-9.]+))?$"


def split_request_line(expr: pl.Expr) -> pl.Expr:
    """`"POST /mcp?x=1 HTTP/1.1"` -> struct{method, target, protocol}; junk (TLS bytes, `-`) -> nulls.

    A line that matches REQUEST_LINE has its three parts between single spaces, so splitting at the
    first two spaces gives them; a match without captures is much cheaper than one with.
    """
    parts = expr.str.splitn(" ", 3)
    valid = expr.str.contains(REQUEST_LINE)
    return pl.struct(
        *[pl.when(valid).then(parts.struct.field(f"field_{i}")).alias(name) for i, name in enumerate(("method", "target", "protocol"))]
    )


def split_target(target: pl.Expr) -> pl.Expr:
    """A request target as struct{field_0: path, field_1: query (without `?`, null when none)}, in one pass.

    Absolute-form targets keep the URL in the path.
    """
    return target.str.splitn("?", 2)


def tls_version_name(expr: pl.Expr) -> pl.Expr:
    """Caddy's numeric TLS version (772) as the usual name (TLSv1.3); names pass through."""
    text = expr.cast(pl.String)
    return text.replace(TLS_VERSION_NAMES)


def strip_port(expr: pl.Expr) -> pl.Expr:
    """`1.2.3.4:5678` -> `1.2.3.4`, `[::1]:443` -> `::1`; bare addresses (IPv6 included) pass through."""
    bracketed = expr.str.extract(r"^\[([^\]]+)\](?::\d+)?$", 1)
    v4_port = expr.str.extract(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$", 1)
    return pl.coalesce(bracketed, v4_port, expr)


# Query parameters that carry credentials: their values never leave ingest (the names stay, so the
# cleartext-credentials check still sees them).
SECRET_PARAMS = (
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "api_key",
    "apikey",
    "key",
    "code",
    "client_secret",
    "password",
    "secret",
    "sig",
    "signature",
)
_SECRET_QUERY = r"(?i)((?:^|[?&;])(?:" + "|".join(SECRET_PARAMS) + r")=)[^&;#\s\"]*"
_BEARER = r"(?i)\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+"
REDACTED = "REDACTED"
_SECRET_QUERY_RE = re.compile(_SECRET_QUERY)  # Python's re reads the same (?i) patterns
_BEARER_RE = re.compile(_BEARER)


def redact_frame(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Values of credential query parameters replaced by REDACTED in `columns`.

    Finding the rows is a fast regex search; the slower replacement runs on those rows only.
    """
    for name in columns:
        if name not in frame.columns:
            continue
        values = frame[name]
        hits = values.str.contains(_SECRET_QUERY).fill_null(False).arg_true()
        if hits.len():
            redacted = values.gather(hits).str.replace_all(_SECRET_QUERY, "${1}" + REDACTED)
            frame = frame.with_columns(values.scatter(hits, redacted))
    return frame


def redact_text(text: str) -> str:
    """The same, for one string (a rejected-line sample); Bearer/Basic credentials too."""
    return _BEARER_RE.sub(r"\1 " + REDACTED, _SECRET_QUERY_RE.sub(r"\1" + REDACTED, text))
