"""The rules that make requests into attempts and clients into outcomes, written once (docs/model.md).

Every runner drives these: the whole-log run and each shard (sessionize.build_flows), and `logscope watch`,
whose carry (live/carry.py) keeps the partials of requests it no longer holds. The aggregates have
angle-grinder's operator shape:

- `*_partial`: aggregations over some of an attempt's (or a client's) requests, in start order;
- `combine_*`: partials of the same attempt (or client), earliest first, as one;
- `finish_*`: the verdict columns, once, from a partial that covers everything.

How requests are numbered, sorted and linked fast is sessionize.py's and keys.py's business, not this one's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import polars as pl
import polars.selectors as cs

from ..schema import per_distinct
from .options import FlowOptions

SSE_PATH = r"(^|/)sse/?$"  # the legacy HTTP+SSE transport's stream
MESSAGES_PATH = r"(^|/)messages?(/|$)"  # the legacy transport's POST endpoint
STATELESS_REVISION = "2026-07-28"  # MCP's stateless revision: server/discover, no Mcp-Session-Id
MCP_HEADERS = ("mcp_method", "mcp_protocol_version", "mcp_session")  # canonical columns, where the log has them
MAX_PATHS = 20  # per client in reports: one abusive client must not blow up a report
STATUS_CLASSES = (2, 3, 4, 5)  # endpoint answers counted per client: 2xx .. 5xx

ENDPOINT = pl.col("role") == "endpoint"
POST = pl.col("method") == "POST"
STATUS = pl.col("status")


# -- the attempt gap: one option (--attempt-gap), three meanings -------------------------------------------


def continues_attempt(start: pl.Expr, previous_start: pl.Expr, gap_s: float) -> pl.Expr:
    """Where an attempt ends: a client's request that starts within the gap of its previous one's start
    continues that attempt; one that starts later begins a new one."""
    return (start - previous_start).dt.total_microseconds() <= int(gap_s * 1e6)


def followed_within(ts: pl.Expr, next_ts: pl.Expr, gap_s: float) -> pl.Expr:
    """A redirect followed: the client's next request came within the gap, as part of the same try (the
    redirect detectors and the report's picture of what clients sent next). In whole seconds."""
    return (next_ts - ts).dt.total_seconds() <= gap_s


def closed_before(watermark: datetime | None, gap_s: float) -> datetime | None:
    """In a live log, an attempt that ended before this is over: no request can still continue it. None (a
    finished log, or nothing read yet): every attempt is over."""
    return None if watermark is None else watermark - timedelta(seconds=gap_s)


# -- which scheme a request had ------------------------------------------------------------------------------


def inferred_https(source: pl.Expr, redirecting: Iterable[str] | pl.Series) -> pl.Expr:
    """A request with no logged scheme, on an input whose server redirects plain HTTP (transport.py), was
    HTTPS. Applied per request by annotate, and to what `logscope watch` folded before the log showed it.
    (`redirecting` as a Series: the inputs coded like `source`, imploded.)"""
    return source.is_in(redirecting if isinstance(redirecting, pl.Series) else list(redirecting))


# -- attempts ------------------------------------------------------------------------------------------------


def sse_paths(df: pl.DataFrame) -> pl.Series:
    """`_sse`: whether each request's path is the legacy transport's stream (once per distinct path)."""
    return per_distinct(df["path"], lambda p: p.str.contains(SSE_PATH)).fill_null(False).alias("_sse")


def attempt_partial(scheme: pl.Expr) -> list[pl.Expr]:
    """Over some of one attempt's requests (endpoint and auth/discovery, in start order; `_sse` added by
    `sse_paths`), what adds up with the rest of it. `scheme` is the requests' scheme as known. (Grouped by
    attempt, or by client and attempt: the caller adds `client_id` where it is no key.)"""
    return [
        pl.col("start").first(),
        pl.col("start").last().alias("last_start"),
        pl.col("ts").max().alias("end"),
        pl.len().alias("requests"),
        ENDPOINT.sum().alias("endpoint_requests"),
        STATUS.filter(ENDPOINT & POST).last().alias("last_post"),
        STATUS.filter(ENDPOINT).last().alias("last_endpoint"),
        scheme.first().alias("first_scheme"),
        (scheme == "https").any().alias("reached_https"),
        pl.col("seq").first().alias("first_seq"),
        # For discovery_probe:
        (pl.col("role") == "auth").any().alias("_discovery"),
        (ENDPOINT & ((pl.col("method") != "GET") | pl.col("_sse"))).any().alias("_connecting"),
        (STATUS == 401).any().alias("_challenged"),
    ]


def combine_attempts() -> list[pl.Expr]:
    """Over partials of one attempt, earliest first: the attempt_partial of all their requests."""
    return [
        pl.col("start").min(),
        pl.col("last_start").max(),
        pl.col("end").max(),
        pl.col("requests", "endpoint_requests").sum(),
        pl.col("last_post", "last_endpoint").drop_nulls().last(),
        pl.col("first_scheme").first(),
        pl.col("reached_https").any(),
        pl.col("first_seq").drop_nulls().first(),
        pl.col("_discovery", "_connecting", "_challenged").any(),
    ]


def discovery_probe() -> pl.Expr:
    """Over attempt rows: is it a program checking whether the server asks for authorization, not
    connecting? OAuth discovery, endpoint requests that are all GETs outside the legacy SSE path, no POST,
    and no 401 (after a 401, discovery is part of connecting). mcp-remote 0.15.1 sends such an attempt under
    a second User-Agent (`node`: GET /mcp 400, then the .well-known documents, 404) before it connects as
    `undici` (measured in the lab). It is no connection attempt: neither successful nor failed."""
    return pl.col("_discovery") & (pl.col("endpoint_requests") > 0) & ~pl.col("_connecting") & ~pl.col("_challenged")


def deciding_status() -> pl.Expr:
    """The spec's rule: the last POST to the endpoint decides; a DELETE teardown or a GET stream never does
    (real SDK clients tear down with DELETE 200 after failing, and a stream is logged when it closes). Only
    an attempt without a POST is decided by its last endpoint request."""
    return pl.coalesce("last_post", "last_endpoint")


def counted() -> pl.Expr:
    """Over attempt rows: the attempts that count towards a client's outcome."""
    return (pl.col("endpoint_requests") > 0) & ~pl.col("probe")


def finish_attempts(attempts: pl.DataFrame) -> pl.DataFrame:
    """Attempt partials that each cover a whole attempt, decided: `deciding_status`, `posted` (decided by a
    POST), `probe`, `counted` and `success`."""
    return attempts.with_columns(
        deciding_status().alias("deciding_status"),
        pl.col("last_post").is_not_null().alias("posted"),
        discovery_probe().alias("probe"),
    ).with_columns(
        counted().alias("counted"),
        pl.col("deciding_status").is_between(200, 299).fill_null(False).alias("success"),
    )


# -- clients -------------------------------------------------------------------------------------------------

#: The per-client counts that add up over any parts of a client's requests (`client_partial`).
SUMMED = ("requests", "endpoint_requests", *[f"endpoint_{k}xx" for k in STATUS_CLASSES])
TRANSPORT_FLAGS = ("_legacy_stream", "_messages", "_stream", "_post", "teardown", "_sent_session", "_sent_stateless", "_notified")
SCHEME_FLAGS = ("_http", "_https", "_logged", "_inferred")


def client_columns(df: pl.DataFrame) -> list[pl.Expr | pl.Series]:
    """The request columns `client_partial` reads, to add first: `_flow` (an MCP or auth request), and the
    legacy transport's paths (once per distinct path)."""
    messages = per_distinct(df["path"], lambda p: p.str.contains(MESSAGES_PATH)).fill_null(False).alias("_messages_path")
    return [(pl.col("role") != "other").alias("_flow"), sse_paths(df), messages]


def client_partial(scheme: pl.Expr) -> list[pl.Expr]:
    """Per client, over some of its requests (with `client_columns`): counts, first and last seen, how it
    speaks MCP, and the schemes it used, over its MCP requests (`_flow_*`) and over all (`_all_*`).
    `scheme` is the requests' scheme as known; `_inferred` where that is not the logged one. Plain sums and
    any() over narrow columns: Polars' fast aggregation path."""
    flow, logged = pl.col("_flow"), pl.col("scheme").is_not_null()
    schemes = {"_http": scheme == "http", "_https": scheme == "https", "_logged": logged, "_inferred": ~logged & scheme.is_not_null()}
    return [
        pl.col("client_ip").first().alias("ip"),
        pl.col("user_agent").first(),
        pl.len().alias("requests"),
        pl.col("ts").min().alias("first_seen"),
        pl.col("ts").max().alias("last_seen"),
        ENDPOINT.sum().alias("endpoint_requests"),
        # Endpoint answers by status class, for the report's chart (no second pass over the requests).
        *[(ENDPOINT & (k == STATUS // 100)).sum().alias(f"endpoint_{k}xx") for k in STATUS_CLASSES],
        flow.any().alias("_has_flow"),
        *[(flow & cond).any().alias(f"_flow{name}") for name, cond in schemes.items()],
        *[cond.any().alias(f"_all{name}") for name, cond in schemes.items()],
        *_mcp_transport_partial(),
    ]


def _mcp_transport_partial() -> list[pl.Expr]:
    """How a client speaks MCP, read from its endpoint requests, and whether it tears down with DELETE."""
    ok = STATUS.is_between(200, 299)
    get = pl.col("method") == "GET"
    sse_path, messages_path = pl.col("_sse"), pl.col("_messages_path")
    return [
        (ENDPOINT & get & sse_path & ok).any().alias("_legacy_stream"),
        (ENDPOINT & POST & messages_path).any().alias("_messages"),
        (ENDPOINT & get & ~sse_path & ok).any().alias("_stream"),
        (ENDPOINT & POST & ~messages_path).any().alias("_post"),
        (ENDPOINT & (pl.col("method") == "DELETE")).any().alias("teardown"),
        # Stateless or in a session (mcp_session_rule): the headers where logged, else what the session
        # handshake leaves, a notification accepted with 202 (notifications/initialized).
        (ENDPOINT & pl.col("mcp_session").fill_null(False)).any().alias("_sent_session"),
        (
            ENDPOINT
            & (
                (pl.col("mcp_method").cast(pl.String) == "server/discover")
                | (pl.col("mcp_protocol_version").cast(pl.String) >= STATELESS_REVISION)
            ).fill_null(False)
        )
        .any()
        .alias("_sent_stateless"),
        (ENDPOINT & POST & ~messages_path & (STATUS == 202)).any().alias("_notified"),
    ]


def extend_lists(earlier: pl.DataFrame, later: pl.DataFrame, column: str, limit: int | None = None) -> pl.DataFrame:
    """Per client of either, the list `column` of `earlier` followed by the values of `later`'s list it does
    not hold yet, in order of first appearance, at most `limit`. Most clients bring nothing new: they are
    found by one vectorised set difference, and only the others are merged value by value (as a frame)."""
    empty = pl.lit([], pl.List(pl.String))
    both = earlier.select("client_id", column).join(later.select("client_id", column), on="client_id", how="full", coalesce=True)
    new = pl.col(f"{column}_right")
    grows = new.list.set_difference(pl.col(column).fill_null(empty)).list.len().fill_null(0) > 0
    both = both.with_columns(grows.alias("_grows"))
    kept = both.filter(~pl.col("_grows")).select("client_id", pl.coalesce(column, new).alias(column))
    growing = both.filter("_grows")
    if growing.height == 0:
        return kept
    values = growing.select("client_id", pl.concat_list(pl.col(column).fill_null(empty), new).alias(column))
    pairs = values.explode(column).drop_nulls(column).unique(maintain_order=True)
    merged = pairs.group_by("client_id", maintain_order=True).agg(pl.col(column) if limit is None else pl.col(column).head(limit))
    return pl.concat([kept, merged])


def combine_clients(earlier: pl.DataFrame, later: pl.DataFrame, limits: Mapping[str, int | None] | None = None) -> pl.DataFrame:
    """Two parts' client partials (each client's requests in `earlier` before those in `later`) as one, column
    by column: counts add, the first seen is the earliest and the last the latest, flags are any, lists are
    extended (at most `limits[column]` values; `paths` at most MAX_PATHS), the rest is the first part's."""
    limits = {"paths": MAX_PATHS, **(limits or {})}
    schema = later.schema
    lists = [c for c, t in schema.items() if isinstance(t, pl.List)]
    both = pl.concat([earlier.select(later.columns).drop(lists), later.drop(lists)], how="vertical_relaxed")

    def combined(column: str, dtype: pl.DataType) -> pl.Expr:
        if column in SUMMED:
            return pl.col(column).sum()
        if column.endswith("first_seen"):
            return pl.col(column).min()
        if column.endswith("last_seen"):
            return pl.col(column).max()
        return pl.col(column).any() if dtype == pl.Boolean else pl.col(column).first()

    out = both.group_by("client_id", maintain_order=True).agg(
        combined(c, t) for c, t in schema.items() if c not in lists and c != "client_id"
    )
    for column in lists:
        out = out.join(extend_lists(earlier, later, column, limits.get(column)), on="client_id", how="left", maintain_order="left")
    return out.cast({c: t for c, t in schema.items() if c in out.columns})


def mcp_session_rule() -> tuple[pl.Expr, pl.Expr]:
    """How a client speaks MCP over Streamable HTTP, and how that is known: `session` (Mcp-Session-Id sent, or
    the session handshake's traces: a notification accepted with 202, a GET stream, a DELETE teardown),
    `stateless` (the 2026-07-28 revision: server/discover or that protocol version sent with no session; or,
    from statuses alone, connecting with POSTs answered 200 and none of a session's traces), else `unknown`.
    Stateless clients connect through replicas without sticky sessions; session clients lose their session
    there. Measured in the lab (issue 25): five programs of nine are stateless."""
    logged_session, logged_stateless = pl.col("_sent_session"), pl.col("_sent_stateless")
    traces = pl.col("_notified") | pl.col("_stream") | pl.col("teardown")
    connected_plainly = (pl.col("successful_attempts") > 0) & pl.col("_post") & ~traces
    legacy = pl.col("mcp_transport") == "legacy-sse"
    session = (
        pl.when(legacy)
        .then(pl.lit("unknown"))
        .when(logged_session)
        .then(pl.lit("session"))
        .when(logged_stateless)
        .then(pl.lit("stateless"))
        .when(traces)
        .then(pl.lit("session"))
        .when(connected_plainly)
        .then(pl.lit("stateless"))
        .otherwise(pl.lit("unknown"))
    )
    evidence = (
        pl.when(legacy | (session == "unknown"))
        .then(pl.lit("none"))
        .when(logged_session | logged_stateless)
        .then(pl.lit("logged"))
        .otherwise(pl.lit("inferred"))
    )
    return session, evidence


def _mcp_transport() -> pl.Expr:
    return (
        pl.when(pl.col("_legacy_stream") | (pl.col("_messages") & ~pl.col("_post")))
        .then(pl.lit("legacy-sse"))
        .when(pl.col("_post") & pl.col("_stream"))
        .then(pl.lit("streamable-http+stream"))
        .when(pl.col("_post"))
        .then(pl.lit("streamable-http"))
        .otherwise(pl.lit("unknown"))
    )


def attempt_counts(attempts: pl.DataFrame) -> pl.DataFrame:
    """Per client, its counted attempts, successful and failed, and the start of its failures since its
    last success (`_failing_since`). A `weight` column, where there is one, is how many attempts a row stands
    for (`logscope watch` keeps a client's folded successful attempts as one row)."""
    counted = attempts.filter(pl.col("counted"))
    if "weight" not in counted.columns:
        counted = counted.with_columns(pl.lit(1, pl.UInt32).alias("weight"))
    weight = pl.col("weight")
    per_attempts = counted.group_by("client_id").agg(
        weight.sum().alias("attempts"),
        weight.filter(pl.col("success")).sum().alias("successful_attempts"),
        weight.filter(~pl.col("success")).sum().alias("failed_attempts"),
        pl.col("attempt").filter(pl.col("success")).max().alias("_last_success"),
    )
    trailing = (
        counted.join(per_attempts.select("client_id", "_last_success"), on="client_id")
        .filter(pl.col("attempt").cast(pl.Int64) > pl.col("_last_success").cast(pl.Int64).fill_null(-1))
        .group_by("client_id")
        .agg(pl.col("start").min().alias("_failing_since"))
    )
    return per_attempts.drop("_last_success").join(trailing, on="client_id", how="left")


def outcome_rule(successful: pl.Expr, failed: pl.Expr, total: pl.Expr, stuck_after: int) -> pl.Expr:
    """The spec's outcome of a client with MCP requests, from its counted attempts."""
    return (
        pl.when((successful > 0) & (failed * 4 < total))
        .then(pl.lit("connected"))
        .when(successful > 0)
        .then(pl.lit("degraded"))
        .when(failed >= stuck_after)
        .then(pl.lit("stuck"))
        .otherwise(pl.lit("failing"))
    )


def _session_columns() -> list[tuple[str, pl.Expr, str]]:
    session, evidence = mcp_session_rule()
    return [("session", session, "unknown"), ("session_evidence", evidence, "none")]


def finish_clients(partials: pl.DataFrame, counts: pl.DataFrame, options: FlowOptions) -> pl.DataFrame:
    """The clients table from a client partial covering all each client sent and its `attempt_counts`:
    outcome, transport, evidence."""
    # Transport is read from the client's MCP requests where it has any, else from all it sent.
    base = partials.with_columns(
        pl.when(pl.col("_has_flow")).then(pl.col(f"_flow{name}")).otherwise(pl.col(f"_all{name}")).alias(name) for name in SCHEME_FLAGS
    )
    clients = (
        base.join(counts, on="client_id", how="left")
        .with_columns(_mcp_transport().alias("mcp_transport"))
        .with_columns(pl.col("attempts", "successful_attempts", "failed_attempts").fill_null(0).cast(pl.UInt32))
    )
    succ, failed, total = pl.col("successful_attempts"), pl.col("failed_attempts"), pl.col("attempts")
    # No endpoint request, or only in discovery probes (discovery_probe): no MCP client of its own.
    no_mcp = (pl.col("endpoint_requests") == 0) | (total == 0)
    outcome = pl.when(no_mcp).then(pl.lit("not-mcp")).otherwise(outcome_rule(succ, failed, total, options.stuck_after))
    transport = (
        pl.when(pl.col("_http") & pl.col("_https"))
        .then(pl.lit("starts-http"))
        .when(pl.col("_http"))
        .then(pl.lit("http-only"))
        .when(pl.col("_https"))
        .then(pl.lit("https-only"))
        .otherwise(pl.lit("unknown"))
    )
    evidence_label = (
        pl.when(pl.col("_logged")).then(pl.lit("logged")).when(pl.col("_inferred")).then(pl.lit("inferred")).otherwise(pl.lit("none"))
    )
    return (
        clients.with_columns(outcome.alias("outcome"), transport.alias("transport"), evidence_label.alias("transport_evidence"))
        .with_columns(
            pl.when(pl.col("outcome") == "stuck").then(pl.col("_failing_since")).alias("stuck_since"),
            pl.when(no_mcp).then(pl.lit("unknown")).otherwise(pl.col("mcp_transport")).alias("mcp_transport"),
            pl.col("teardown").fill_null(False),
        )
        .with_columns(
            # Known only for a client that speaks MCP.
            *[pl.when(no_mcp).then(pl.lit(default)).otherwise(rule).alias(name) for name, rule, default in _session_columns()],
        )
        .drop(
            "_failing_since",
            *(c for c in TRANSPORT_FLAGS if c != "teardown"),
            "_has_flow",
            cs.starts_with("_flow_", "_all_", *SCHEME_FLAGS),
        )
        .drop("ckey", strict=False)
        # One row per client: plain strings, so the table joins and compares like any other.
        .with_columns(pl.col("client_id", "ip", "user_agent").cast(pl.String))
        .sort("first_seen", "client_id")
    )
