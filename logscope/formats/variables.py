"""From nginx variables to canonical columns.

Text formats are compiled from nginx `log_format` variables, and generic JSON keys are mapped onto the
same variables, so this one table decides how every variable becomes a canonical column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from ..schema import CANONICAL, OK, RAW, REASON, RECORD, by_distinct
from . import fields as cv
from .traits import Traits, answered_expr, non_request_expr

# Canonical column -> the variables that can fill it, best first. A variable not listed anywhere is
# kept as a string column of its own name ("unknown variables become string columns").
TIME_VARIABLES = ("time_start", "time_local", "time_iso8601", "msec", "time_any", "time_haproxy", "time_end")
#: The variables a duration is read from (`time_end` with `time_start`: the time between them).
DURATION_VARIABLES = (
    "request_time",
    "request_time_ms",
    "request_time_us",
    "request_time_ns",
    "duration_ms_or_unset",
    "latency_text",
    "time_end",
)
# Apache %l (identd, nearly always "-"), and HAProxy's captured-header blocks (read position by position).
IGNORED_VARIABLES = frozenset({"ident", "captured_request_headers", "captured_response_headers", "captured_quoted_headers"})
CONSUMED = frozenset(
    {
        *TIME_VARIABLES,
        "remote_addr",
        "remote_addr_port",
        "realip_remote_addr",
        "forwarded_client",
        "local_addr_port",
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
        *DURATION_VARIABLES,
        "request_url",
        "frontend_tls",
        "ssl_fc",
        "status_or_unset",
        "tls_version",
        "http_user_agent",
        "http_referer",
        "sent_http_location",
        "sent_http_strict_transport_security",
        "http_authorization",
        "has_authorization",
        "http_x_forwarded_for",
        "server_port",
        "http_mcp_method",
        "http_mcp_protocol_version",
        "http_mcp_session_id",
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
    "mcp_method": "http_mcp_method",
    "mcp_protocol_version": "http_mcp_protocol_version",
    "mcp_session": "http_mcp_session_id",
}


#: Canonical column -> the variables that record it. A format "logs" a column when it has one of these,
#: which is what lets a detector read a null as "absent" rather than "not recorded".
LOGGED_BY: dict[str, tuple[str, ...]] = {
    "ts": TIME_VARIABLES,
    "client_ip": ("remote_addr", "remote_addr_port", "realip_remote_addr", "forwarded_client"),
    "method": ("request", "request_method"),
    "path": ("request", "request_uri", "uri", "request_url"),
    "query": ("request", "request_uri", "args", "query_string", "request_url"),
    "protocol": ("request", "server_protocol"),
    "scheme": ("scheme", "https", "ssl_protocol", "frontend_tls", "ssl_fc", "request_url"),
    "host": ("host", "http_host", "server_name", "request_url"),
    "status": ("status", "status_or_unset"),
    "bytes_sent": ("body_bytes_sent", "bytes_sent"),
    "duration_s": DURATION_VARIABLES,
    "user_agent": ("http_user_agent",),
    "referer": ("http_referer",),
    "location": ("sent_http_location",),
    "hsts": ("sent_http_strict_transport_security",),
    # `$has_authorization` is the presence flag an operator's nginx `map` or Apache `SetEnvIf` defines, so
    # that the log says whether the header was sent without writing the credential (docs/formats.md).
    "has_authorization": ("http_authorization", "has_authorization"),
    "tls_version": ("ssl_protocol", "tls_version"),
    "forwarded_for": ("http_x_forwarded_for", "forwarded_client"),
    "server_port": ("server_port", "local_addr_port"),
    "mcp_method": ("http_mcp_method",),
    "mcp_protocol_version": ("http_mcp_protocol_version",),
    "mcp_session": ("http_mcp_session_id",),
}


def logged_columns(variables: Iterable[str]) -> frozenset[str]:
    """The canonical columns a format with these variables records."""
    present = set(variables)
    if "time_start" not in present:
        present.discard("time_end")  # a duration is the time between the two
    return frozenset(col for col, names in LOGGED_BY.items() if present & set(names))


#: Variables a JSON flavour may hand over as numbers (the typed readers): read as numbers, not through text.
NUMBER_VARIABLES = frozenset(
    {"status", "body_bytes_sent", "bytes_sent", "request_time", "request_time_ms", "request_time_us", "request_time_ns"}
)


def _as_int(dtype: pl.DataType):
    """How a number column becomes integers of `dtype`: a fraction becomes null, as its text would."""

    def convert(expr: pl.Expr, source: pl.DataType) -> pl.Expr:
        if source.is_integer():
            return expr.cast(dtype, strict=False)
        return pl.when(expr == expr.floor()).then(expr).cast(dtype, strict=False)

    return convert


def _first(
    present: set[str], *names: str, convert=lambda e: e, numbers: Mapping[str, pl.DataType] | None = None, number=None
) -> pl.Expr | None:
    """The first present variable of `names`, blank as null, through `convert`; a variable that is a number
    column (`numbers`, its type) goes through `number(column, type)` instead."""
    numbers = numbers or {}
    exprs = [number(pl.col(n), numbers[n]) if n in numbers else convert(cv.blank_to_null(pl.col(n))) for n in names if n in present]
    if not exprs:
        return None
    return exprs[0] if len(exprs) == 1 else pl.coalesce(exprs)


def _scheme(present: set[str], traits: Traits, url_scheme: pl.Expr | None) -> pl.Expr | None:
    """The scheme from whatever the format logs: $scheme, an absolute URL, $https, $ssl_protocol, HAProxy's
    `~` after the frontend name, then the port."""
    candidates: list[pl.Expr] = []
    if "scheme" in present:
        s = pl.col("scheme").str.to_lowercase()
        candidates.append(pl.when(s.is_in(["http", "https"])).then(s))
    if url_scheme is not None:
        candidates.append(url_scheme)
    if "https" in present:
        # nginx logs "on" for TLS connections and an empty value otherwise.
        candidates.append(pl.when(pl.col("https").str.to_lowercase() == "on").then(pl.lit("https")).otherwise(pl.lit("http")))
    if "ssl_protocol" in present:
        candidates.append(pl.when(cv.blank_to_null(pl.col("ssl_protocol")).is_not_null()).then(pl.lit("https")).otherwise(pl.lit("http")))
    if "ssl_fc" in present:  # HAProxy's %[ssl_fc]: 1 over TLS
        candidates.append(pl.when(pl.col("ssl_fc") == "1").then(pl.lit("https")).when(pl.col("ssl_fc") == "0").then(pl.lit("http")))
    if "frontend_tls" in present:
        # HAProxy writes `~` after the frontend's name when the connection came over TLS.
        candidates.append(pl.when(pl.col("frontend_tls").str.ends_with("~")).then(pl.lit("https")).otherwise(pl.lit("http")))
    port = _port(present)
    if port is not None:
        ports = {443: "https", 80: "http", **dict(traits.scheme_ports)}
        candidates.append(port.replace_strict(ports, default=None, return_dtype=pl.String))
    if not candidates:
        return None
    return candidates[0] if len(candidates) == 1 else pl.coalesce(candidates)


def _port(present: set[str]) -> pl.Expr | None:
    """The port the request came in on: `$server_port`, or the port of a logged local address."""
    ports = []
    if "server_port" in present:
        ports.append(cv.to_int(pl.col("server_port"), pl.Int32()))
    if "local_addr_port" in present:
        ports.append(pl.col("local_addr_port").str.extract(r":([0-9]+)$", 1).cast(pl.Int32, strict=False))
    if not ports:
        return None
    return ports[0] if len(ports) == 1 else pl.coalesce(ports)


def _authorization(present: set[str]) -> pl.Expr | None:
    """Whether the request carried Authorization: the header itself (reduced to its presence), or a
    presence flag (`-`, empty or `0` for absent)."""
    flags = []
    if "http_authorization" in present:
        flags.append(cv.blank_to_null(pl.col("http_authorization")).is_not_null())
    if "has_authorization" in present:
        flags.append(~cv.blank_to_null(pl.col("has_authorization")).fill_null("0").is_in(["0", "false", "no", "off"]))
    return pl.any_horizontal(flags) if flags else None


#: An absolute request target: scheme, authority (host and port), and the path with its query.
_ABSOLUTE_URL = r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)$"
_URL_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


_URL_PARTS = pl.Struct({"scheme": pl.String, "host": pl.String, "port": pl.Int32, "target": pl.String})


def _url_parts(targets: pl.Series) -> pl.Series:
    """Request targets as struct{scheme (http or https, null when not absolute or another scheme), host, port,
    target}: an absolute URL's path and query (`/` when it has none), a relative target as it is."""
    url = pl.col("t").str.extract_groups(_ABSOLUTE_URL).struct
    authority = url.field("authority").str.replace(r"^.*@", "")
    rest = url.field("rest")
    return (
        targets.to_frame("t")
        .select(
            pl.struct(
                url.field("scheme").str.to_lowercase().replace_strict(_URL_SCHEMES, default=None, return_dtype=pl.String).alias("scheme"),
                cv.blank_to_null(authority.str.replace(r"^\[([^\]]*)\](?::[0-9]*)?$|:[0-9]*$", "${1}")).alias("host"),
                authority.str.extract(r":([0-9]+)$", 1).cast(pl.Int32, strict=False).alias("port"),
                pl.when(url.field("scheme").is_not_null())
                .then(pl.when(rest == "").then(pl.lit("/")).otherwise(rest))
                .otherwise(pl.col("t"))
                .alias("target"),
            )
        )
        .to_series()
    )


def _absolute_urls(targets: pl.Series) -> pl.Series:
    return by_distinct(targets, _url_parts)


def _times(present: set[str], naive_tz: str, traits: Traits) -> list[pl.Expr]:
    times = []
    if "time_end" in present and traits.time_is == "end":  # both ends logged, the line ordered at its end (AWS ALB)
        times.append(pl.col("_parsed_time_end"))
    if "time_start" in present:
        times.append(pl.col("_parsed_time_start"))
    if "time_local" in present:
        times.append(cv.parse_time_local(pl.col("time_local")))
    if "time_iso8601" in present:
        times.append(cv.parse_iso8601(pl.col("time_iso8601"), naive_tz))
    if "msec" in present:
        times.append(cv.parse_epoch(pl.col("msec")))
    if "time_any" in present:
        times.append(cv.parse_any_time(pl.col("time_any"), naive_tz))
    if "time_haproxy" in present:
        times.append(cv.parse_haproxy_time(pl.col("time_haproxy"), naive_tz))
    if "time_end" in present:
        times.append(pl.col("_parsed_time_end"))
    return times


def _durations(present: set[str], numbers: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    durations = [
        e
        for e in (
            *[
                _first(present, name, convert=lambda e, d=unit: cv.to_float(e) / d, numbers=numbers, number=lambda x, _, d=unit: x / d)
                for name, unit in (("request_time", 1), ("request_time_ms", 1e3), ("request_time_us", 1e6), ("request_time_ns", 1e9))
            ],
            # HAProxy's timers: -1 when that phase never happened; `+` marks a time logged before the end (logasap).
            _first(present, "duration_ms_or_unset", convert=lambda e: pl.when(cv.to_float(e) >= 0).then(cv.to_float(e) / 1e3)),
            # Google's `latency`: "0.058927s".
            _first(present, "latency_text", convert=lambda e: cv.to_float(e.str.strip_suffix("s"))),
        )
        if e is not None
    ]
    if "time_start" in present and "time_end" in present:
        # A log that stamps both ends (AWS ALB, Cloudflare): the request took the time between them.
        durations.append((pl.col("_parsed_time_end") - pl.col("_parsed_time_start")).dt.total_microseconds() / 1e6)
    return durations


def canonical_from_variables(
    lf: pl.LazyFrame,
    variables: Iterable[str],
    naive_tz: str = "UTC",
    *,
    clean_numbers: bool = False,
    traits: Traits | None = None,
    renamed: Mapping[str, pl.Expr] | None = None,
) -> pl.LazyFrame:
    """Turn string columns named after nginx variables into canonical columns.

    Expects an `_ok` column (did the line match at all); adds the per-field checks to it and fills
    `_reason` for rejected lines. Unknown variables are kept as string columns, but for those whose name
    starts with `_` (matched, not kept). `traits` say how the system that wrote the log reads (absolute
    URLs, who answered); `renamed` adds variables computed from others (HAProxy's captured headers).
    """
    traits = traits or Traits()
    if renamed:
        lf = lf.with_columns(expr.alias(name) for name, expr in renamed.items())
    present = set(variables) | set(renamed or ())
    types = lf.collect_schema()
    numbers = {v: types[v] for v in NUMBER_VARIABLES & present if types[v].is_numeric()}

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

    targets = [cv.blank_to_null(pl.col(n)) for n in ("request_uri", "request_url") if n in present]
    if req:
        targets.append(req["target"])
    if "uri" in present:
        targets.append(cv.blank_to_null(pl.col("uri")))
    target = (pl.coalesce(targets) if len(targets) > 1 else targets[0]) if targets else None
    url_scheme = url_host = url_port = None
    if target is not None and (traits.absolute_urls or "request_url" in present):
        # Worked out once per distinct target: an edge's log repeats a few URLs (and a few hosts) many times.
        lf = lf.with_columns(target.map_batches(_absolute_urls, return_dtype=_URL_PARTS, is_elementwise=True).alias("_url"))
        url = pl.col("_url").struct
        url_scheme, url_host, url_port, target = url.field("scheme"), url.field("host"), url.field("port"), url.field("target")
    if target is not None:
        lf = lf.with_columns(cv.split_target(target).alias("_target"))
        path_of, query_of = pl.col("_target").struct.field("field_0"), pl.col("_target").struct.field("field_1")

    # A log that stamps both ends (AWS ALB, Cloudflare) reads each end for the time and for the duration: parsed once.
    ends = [v for v in ("time_start", "time_end") if v in present]
    if ends:
        lf = lf.with_columns(cv.parse_any_time(pl.col(v), naive_tz).alias(f"_parsed_{v}") for v in ends)
    times = _times(present, naive_tz, traits)
    ts = cv.plausible(pl.coalesce(times) if len(times) > 1 else times[0]) if times else None
    args = _first(present, "args", "query_string")
    durations = _durations(present, numbers)
    if traits.end_from_duration and ts is not None and durations:
        taken = pl.coalesce(durations) if len(durations) > 1 else durations[0]
        ts = pl.when(taken.is_not_null()).then(ts + pl.duration(microseconds=(taken * 1e6).round(0).cast(pl.Int64))).otherwise(ts)
    clients = [
        e
        for e in (
            _first(present, "remote_addr", "realip_remote_addr"),
            _first(present, "remote_addr_port", convert=cv.strip_port),
            # Envoy's default format logs no peer address, only X-Forwarded-For: its first address is the client.
            _first(present, "forwarded_client", convert=lambda e: e.str.split(",").list.first().str.strip_chars()),
        )
        if e is not None
    ]
    hosts = [e for e in (_first(present, "host", "http_host", "server_name"), url_host) if e is not None]
    ports = [e for e in (_port(present), url_port) if e is not None]
    statuses = [
        e
        for e in (
            _first(present, "status", convert=lambda e: to_int(e, pl.Int32()), numbers=numbers, number=_as_int(pl.Int32())),
            # HAProxy logs -1 when no response was sent at all: Caddy writes 0 for the same.
            _first(present, "status_or_unset", convert=lambda e: pl.when(e == "-1").then(pl.lit(0)).otherwise(to_int(e, pl.Int32()))),
        )
        if e is not None
    ]
    columns: dict[str, pl.Expr | None] = {
        "ts": ts,
        "client_ip": pl.coalesce(clients) if len(clients) > 1 else (clients[0] if clients else None),
        "method": pl.coalesce([e for e in (_first(present, "request_method"), req.get("method")) if e is not None])
        if ("request_method" in present or req)
        else None,
        "path": path_of if target is not None else None,
        "query": (pl.coalesce(query_of, args) if args is not None else query_of) if target is not None else args,
        "protocol": pl.coalesce([e for e in (_first(present, "server_protocol"), req.get("protocol")) if e is not None])
        if ("server_protocol" in present or req)
        else None,
        "scheme": _scheme(present, traits, url_scheme),
        "host": pl.coalesce(hosts) if len(hosts) > 1 else (hosts[0] if hosts else None),
        "status": pl.coalesce(statuses) if len(statuses) > 1 else (statuses[0] if statuses else None),
        "bytes_sent": _first(present, "body_bytes_sent", "bytes_sent", convert=to_int, numbers=numbers, number=_as_int(pl.Int64())),
        "duration_s": (pl.coalesce(durations) if len(durations) > 1 else durations[0]) if durations else None,
        "user_agent": _first(present, "http_user_agent"),
        "referer": _first(present, "http_referer"),
        "location": _first(present, "sent_http_location"),
        "hsts": _first(present, "sent_http_strict_transport_security"),
        # Only whether the header was there: the credential itself is never kept.
        "has_authorization": _authorization(present),
        # `tls_version` is a version logged without implying the scheme (Traefik, Caddy).
        "tls_version": _first(present, "ssl_protocol", "tls_version"),
        "forwarded_for": _first(present, "http_x_forwarded_for", "forwarded_client"),
        "server_port": pl.coalesce(ports) if len(ports) > 1 else (ports[0] if ports else None),
        "answered_by": answered_expr(traits, present),
        "mcp_method": _first(present, "http_mcp_method"),
        "mcp_protocol_version": _first(present, "http_mcp_protocol_version"),
        # Only whether it was sent, never the session id.
        "mcp_session": cv.blank_to_null(pl.col("http_mcp_session_id")).is_not_null() if "http_mcp_session_id" in present else None,
    }
    built = [expr.alias(name) for name, expr in columns.items() if expr is not None]
    kept = sorted(v for v in present - CONSUMED - IGNORED_VARIABLES if not v.startswith("_"))
    extras = [cv.blank_to_null(pl.col(v)).alias(v if v not in CANONICAL else f"var_{v}") for v in kept]
    keep = [pl.col(c) for c in (OK, REASON, RECORD, RAW, "line") if c in lf.collect_schema().names()]
    non_request = non_request_expr(traits, present)
    lf = lf.select(*built, *extras, *keep, *([non_request.alias("_non_request")] if non_request is not None else []))
    if non_request is not None:
        # A line the layout fits but that is no request (Envoy's TCP connections) is counted as what it is.
        record = pl.col("_non_request") if RECORD not in lf.collect_schema().names() else pl.coalesce(RECORD, "_non_request")
        lf = lf.with_columns(record.alias(RECORD), (pl.col(OK) & pl.col("_non_request").is_null()).alias(OK)).drop("_non_request")
    return validate(lf, has_time=ts is not None, has_status=bool(statuses), has_duration=bool(durations))


MAX_DURATION_S = 30 * 86400


def validate(lf: pl.LazyFrame, *, has_time: bool, has_status: bool, has_duration: bool) -> pl.LazyFrame:
    """Reject matched lines whose time or status is unusable, naming why."""
    checks: list[tuple[pl.Expr, str]] = []
    if has_time:
        checks.append((pl.col("ts").is_null(), "timestamp unparseable or outside 1990-2099"))
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
