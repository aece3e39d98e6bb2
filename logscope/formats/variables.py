"""From nginx variables to canonical columns.

Text formats are compiled from nginx `log_format` variables, and generic JSON keys are mapped onto the
same variables, so this one table decides how every variable becomes a canonical column.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ..schema import CANONICAL, OK, RAW, REASON
from . import fields as cv

# Canonical column -> the variables that can fill it, best first. A variable not listed anywhere is
# kept as a string column of its own name ("unknown variables become string columns").
TIME_VARIABLES = ("time_local", "time_iso8601", "msec", "time_any")
IGNORED_VARIABLES = frozenset({"ident"})  # Apache %l: identd, nearly always "-"
CONSUMED = frozenset(
    {
        *TIME_VARIABLES,
        "remote_addr",
        "realip_remote_addr",
        "request",
        "request_method",
        "request_uri",
        "uri",
        "args",
        "query_string",
        "server_protocol",
        "scheme",
        "https",
        "ssl_protocol",
        "host",
        "http_host",
        "server_name",
        "status",
        "body_bytes_sent",
        "bytes_sent",
        "request_time",
        "request_time_ms",
        "request_time_us",
        "request_time_ns",
        "tls_version",
        "http_user_agent",
        "http_referer",
        "sent_http_location",
        "sent_http_strict_transport_security",
        "http_authorization",
        "has_authorization",
        "http_x_forwarded_for",
        "server_port",
    }
)

#: The variable each canonical column is read from when a user maps a JSON key onto it (`--field`).
CANONICAL_TO_VARIABLE = {
    "ts": "time_any",
    "client_ip": "remote_addr",
    "method": "request_method",
    "path": "request_uri",
    "query": "args",
    "protocol": "server_protocol",
    "scheme": "scheme",
    "host": "host",
    "status": "status",
    "bytes_sent": "body_bytes_sent",
    "duration_s": "request_time",
    "user_agent": "http_user_agent",
    "referer": "http_referer",
    "location": "sent_http_location",
    "hsts": "sent_http_strict_transport_security",
    "has_authorization": "http_authorization",
    "tls_version": "ssl_protocol",
    "forwarded_for": "http_x_forwarded_for",
    "server_port": "server_port",
}


#: Canonical column -> the variables that record it. A format "logs" a column when it has one of these,
#: which is what lets a detector read a null as "absent" rather than "not recorded".
LOGGED_BY: dict[str, tuple[str, ...]] = {
    "ts": TIME_VARIABLES,
    "client_ip": ("remote_addr", "realip_remote_addr"),
    "method": ("request", "request_method"),
    "path": ("request", "request_uri", "uri"),
    "query": ("request", "request_uri", "args", "query_string"),
    "protocol": ("request", "server_protocol"),
    "scheme": ("scheme", "https", "ssl_protocol"),
    "host": ("host", "http_host", "server_name"),
    "status": ("status",),
    "bytes_sent": ("body_bytes_sent", "bytes_sent"),
    "duration_s": ("request_time", "request_time_ms", "request_time_us", "request_time_ns"),
    "user_agent": ("http_user_agent",),
    "referer": ("http_referer",),
    "location": ("sent_http_location",),
    "hsts": ("sent_http_strict_transport_security",),
    # `$has_authorization` is the presence flag an operator's nginx `map` or Apache `SetEnvIf` defines, so
    # that the log says whether the header was sent without writing the credential (README, Formats).
    "has_authorization": ("http_authorization", "has_authorization"),
    "tls_version": ("ssl_protocol", "tls_version"),
    "forwarded_for": ("http_x_forwarded_for",),
    "server_port": ("server_port",),
}


def logged_columns(variables: Iterable[str]) -> frozenset[str]:
    """The canonical columns a format with these variables records."""
    present = set(variables)
    return frozenset(col for col, names in LOGGED_BY.items() if present & set(names))


def _first(present: set[str], *names: str, convert=lambda e: e) -> pl.Expr | None:
    exprs = [convert(cv.blank_to_null(pl.col(n))) for n in names if n in present]
    if not exprs:
        return None
    return exprs[0] if len(exprs) == 1 else pl.coalesce(exprs)


def _scheme(present: set[str]) -> pl.Expr | None:
    """The scheme from whatever the format logs: $scheme, $https, $ssl_protocol, then the port."""
    candidates: list[pl.Expr] = []
    if "scheme" in present:
        s = pl.col("scheme").str.to_lowercase()
        candidates.append(pl.when(s.is_in(["http", "https"])).then(s))
    if "https" in present:
        # nginx logs "on" for TLS connections and an empty value otherwise.
        candidates.append(pl.when(pl.col("https").str.to_lowercase() == "on").then(pl.lit("https")).otherwise(pl.lit("http")))
    if "ssl_protocol" in present:
        candidates.append(pl.when(cv.blank_to_null(pl.col("ssl_protocol")).is_not_null()).then(pl.lit("https")).otherwise(pl.lit("http")))
    if "server_port" in present:
        port = cv.to_int(pl.col("server_port"))
        candidates.append(pl.when(port == 443).then(pl.lit("https")).when(port == 80).then(pl.lit("http")))
    if not candidates:
        return None
    return candidates[0] if len(candidates) == 1 else pl.coalesce(candidates)


def _authorization(present: set[str]) -> pl.Expr | None:
    """Whether the request carried Authorization: the header itself (reduced to its presence), or a
    presence flag (`-`, empty or `0` for absent)."""
    flags = []
    if "http_authorization" in present:
        flags.append(cv.blank_to_null(pl.col("http_authorization")).is_not_null())
    if "has_authorization" in present:
        flags.append(~cv.blank_to_null(pl.col("has_authorization")).fill_null("0").is_in(["0", "false", "no", "off"]))
    return pl.any_horizontal(flags) if flags else None


def canonical_from_variables(
    lf: pl.LazyFrame, variables: Iterable[str], naive_tz: str = "UTC", *, clean_numbers: bool = False
) -> pl.LazyFrame:
    """Turn string columns named after nginx variables into canonical columns.

    Expects an `_ok` column (did the line match at all); adds the per-field checks to it and fills
    `_reason` for rejected lines. Unknown variables are kept as string columns.
    """
    present = set(variables)

    # Text formats match numbers with [0-9]+ already; JSON may hold "200.0" or 2e2 and needs the slow path.
    def to_int(expr: pl.Expr, dtype: pl.DataType | None = None) -> pl.Expr:
        if clean_numbers:
            return expr.cast(dtype or pl.Int64(), strict=False)
        return cv.to_int(expr, dtype)

    if "request" in present:
        lf = lf.with_columns(cv.split_request_line(pl.col("request")).alias("_req"))
        req = {k: pl.col("_req").struct.field(k) for k in ("method", "target", "protocol")}
    else:
        req = {}

    targets = [cv.blank_to_null(pl.col(n)) for n in ("request_uri",) if n in present]
    if req:
        targets.append(req["target"])
    if "uri" in present:
        targets.append(cv.blank_to_null(pl.col("uri")))
    target = (pl.coalesce(targets) if len(targets) > 1 else targets[0]) if targets else None
    if target is not None:
        lf = lf.with_columns(cv.split_target(target).alias("_target"))
        path_of, query_of = pl.col("_target").struct.field("field_0"), pl.col("_target").struct.field("field_1")

    times = []
    if "time_local" in present:
        times.append(cv.parse_time_local(pl.col("time_local")))
    if "time_iso8601" in present:
        times.append(cv.parse_iso8601(pl.col("time_iso8601"), naive_tz))
    if "msec" in present:
        times.append(cv.parse_epoch(pl.col("msec")))
    if "time_any" in present:
        times.append(cv.parse_any_time(pl.col("time_any"), naive_tz))
    ts = cv.plausible(pl.coalesce(times) if len(times) > 1 else times[0]) if times else None

    args = _first(present, "args", "query_string")
    durations = [
        e
        for e in (
            _first(present, "request_time", convert=cv.to_float),
            _first(present, "request_time_ms", convert=lambda e: cv.to_float(e) / 1e3),
            _first(present, "request_time_us", convert=lambda e: cv.to_float(e) / 1e6),
            _first(present, "request_time_ns", convert=lambda e: cv.to_float(e) / 1e9),
        )
        if e is not None
    ]
    columns: dict[str, pl.Expr | None] = {
        "ts": ts,
        "client_ip": _first(present, "remote_addr", "realip_remote_addr"),
        "method": pl.coalesce([e for e in (_first(present, "request_method"), req.get("method")) if e is not None])
        if ("request_method" in present or req)
        else None,
        "path": path_of if target is not None else None,
        "query": (pl.coalesce(query_of, args) if args is not None else query_of) if target is not None else args,
        "protocol": pl.coalesce([e for e in (_first(present, "server_protocol"), req.get("protocol")) if e is not None])
        if ("server_protocol" in present or req)
        else None,
        "scheme": _scheme(present),
        "host": _first(present, "host", "http_host", "server_name"),
        "status": _first(present, "status", convert=lambda e: to_int(e, pl.Int32())),
        "bytes_sent": _first(present, "body_bytes_sent", "bytes_sent", convert=to_int),
        "duration_s": (pl.coalesce(durations) if len(durations) > 1 else durations[0]) if durations else None,
        "user_agent": _first(present, "http_user_agent"),
        "referer": _first(present, "http_referer"),
        "location": _first(present, "sent_http_location"),
        "hsts": _first(present, "sent_http_strict_transport_security"),
        # Only whether the header was there: the credential itself is never kept.
        "has_authorization": _authorization(present),
        # `tls_version` is a version logged without implying the scheme (Traefik, Caddy).
        "tls_version": _first(present, "ssl_protocol", "tls_version"),
        "forwarded_for": _first(present, "http_x_forwarded_for"),
        "server_port": _first(present, "server_port", convert=lambda e: to_int(e, pl.Int32())),
    }
    built = [expr.alias(name) for name, expr in columns.items() if expr is not None]
    extras = [
        cv.blank_to_null(pl.col(v)).alias(v if v not in CANONICAL else f"var_{v}") for v in sorted(present - CONSUMED - IGNORED_VARIABLES)
    ]
    keep = [pl.col(c) for c in (OK, REASON, RAW, "line") if c in lf.collect_schema().names()]
    lf = lf.select(*built, *extras, *keep)
    return validate(lf, has_time=ts is not None, has_status="status" in present, has_duration=bool(durations))


MAX_DURATION_S = 30 * 86400


def validate(lf: pl.LazyFrame, *, has_time: bool, has_status: bool, has_duration: bool) -> pl.LazyFrame:
    """Reject matched lines whose time or status is unusable, naming why."""
    checks: list[tuple[pl.Expr, str]] = []
    if has_time:
        checks.append((pl.col("ts").is_null(), "timestamp unparseable or impossible"))
    if has_status:
        checks.append((~pl.col("status").is_between(0, 999) | pl.col("status").is_null(), "status is not a number from 0 to 999"))
    if has_duration:
        # A request takes from 0 s to days (an SSE stream); -1e133 s or infinity is a broken line, not a request.
        impossible = (~pl.col("duration_s").is_between(0, MAX_DURATION_S)).fill_null(False)
        checks.append((impossible, "duration is negative or impossible"))
    reason = pl.col(REASON)
    ok = pl.col(OK)
    for bad, why in checks:
        reason = pl.when(ok & bad & reason.is_null()).then(pl.lit(why)).otherwise(reason)
        ok = ok & ~bad
    return lf.with_columns(reason.alias(REASON)).with_columns(ok.fill_null(False).alias(OK))
