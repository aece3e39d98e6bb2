"""Failures inside a connection: lost sessions, cut streams, transport fallback, storms."""

from __future__ import annotations

import polars as pl

from ..flows import PAIR_BASE, SSE_PATH, pair_key
from ..schema import per_distinct
from .registry import Context, Finding, at_least, detector

# Proxy and client idle timeouts that cut long-lived SSE streams (seconds).
STREAM_CUTS = [(55.0, 65.0), (95.0, 125.0), (295.0, 305.0)]
CUT_STATUSES = [499, 502, 504, 524]
GATEWAY_ERRORS = [502, 504, 524]  # a stream ended by the proxy's error, whatever the client did next
REOPEN_S = 3.0  # a client whose stream was cut opens it again within seconds (the SDKs reconnect at once)
REOPEN_EARLY_S = 1.5  # ...or seemingly a little before its end, in a log stamped in whole seconds
MIN_REPEATS = 2
STORM_ATTEMPTS_PER_HOUR = 30
STORM_REQUESTS_PER_MINUTE = 60


def _lost_sessions(ctx: Context) -> pl.DataFrame:
    # 404 is the spec's "session not found"; 400 is what older Python SDK servers answered for it, on the
    # requests that carry MCP messages. A GET answered 400 is a stream asked for before the session existed
    # (the Vercel AI SDK opens its stream while its initialize is still in flight, measured), not a lost one.
    hits = ctx.requests.filter(
        (pl.col("role") == "endpoint")
        & ((pl.col("status") == 404) | ((pl.col("status") == 400) & (pl.col("method") != "GET")))
        & pl.col("prev_endpoint_status").is_between(200, 299)
        & ~pl.col("benign")
    )
    return ctx.tally(hits, "status", partner="prev_endpoint_seq")


@detector("session-lost", select=_lost_sessions)
def session_lost(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    """A request fails with 404/400 right after a successful one in the same attempt, repeatedly."""
    tally = at_least(tally, MIN_REPEATS)
    if tally.height == 0:
        return []
    clients = tally["client_id"].unique().to_list()
    detail = (
        f"{len(clients)} client(s) had a request succeed (typically initialize) and the next one in the same attempt fail "
        f"with {'/'.join(str(s) for s in sorted(tally['status'].unique().to_list()))}, {tally['n'].sum()} times: the session "
        "did not survive to the next request (several replicas without shared sessions, restarts, or a session attached "
        "to another flow)."
    )
    # Stateless clients (MCP 2026-07-28) keep no session: replicas without sticky sessions do not hurt them.
    stateless = ctx.clients.filter((pl.col("session") == "stateless") & (pl.col("outcome") == "connected")).height
    if stateless:
        detail += (
            f" Stateless clients (MCP 2026-07-28, no Mcp-Session-Id) are unaffected: {stateless} of them connected through the same server."
        )
    severity = "high" if ctx.any_failing(clients) else "medium"
    return [ctx.finding("session-lost", severity, "Session lost right after a successful request", detail, tally, pairs=True)]


def _cut_streams(ctx: Context) -> pl.DataFrame:
    """A client's SSE streams cut while its session went on: ended with a gateway error, or ended and opened
    again within seconds (the SDKs reconnect at once), at a common proxy default (60 s, 95-125 s, 300 s) or at
    one length again and again, whatever the timeout.

    A stream that merely ends near 60 s is not enough: Caddy 2.6 and Apache log the TypeScript SDK's
    abandoned streams at 60 s, long after the client left (measured in the lab)."""
    streams = ctx.rows_logging("duration_s").filter(
        (pl.col("role") == "endpoint")
        & (pl.col("method") == "GET")
        & pl.col("duration_s").is_not_null()
        & (pl.col("status").is_between(200, 299) | pl.col("status").is_in(CUT_STATUSES))
    )
    near_timeout = pl.any_horizontal([pl.col("duration_s").is_between(lo, hi) for lo, hi in STREAM_CUTS])
    ends = pl.col("start") + pl.duration(microseconds=(pl.col("duration_s") * 1e6).cast(pl.Int64))
    # Streams are few: order each client's by start and look at the one after.
    following = (pl.col("start").shift(-1).over("client_id") - ends).dt.total_seconds()
    streams = streams.sort("client_id", "start").with_columns(
        following.is_between(-REOPEN_EARLY_S, REOPEN_S).fill_null(False).alias("_reopened"),
        near_timeout.alias("_known"),
        pl.col("status").is_in(GATEWAY_ERRORS).alias("_error"),
    )
    median = pl.col("duration_s").filter(pl.col("_reopened")).median().over("client_id")
    same_length = ((pl.col("duration_s") - median).abs() <= pl.max_horizontal(0.5, 0.1 * median)) & (median >= 1.0)
    streams = streams.with_columns((pl.col("_error") | (pl.col("_reopened") & (pl.col("_known") | same_length))).alias("_cut"))
    per_client = streams.group_by("client_id").agg(pl.len().alias("n"), pl.col("_cut").sum().alias("cut"))
    affected = per_client.filter((pl.col("cut") >= MIN_REPEATS) & (pl.col("cut") * 3 >= pl.col("n")))
    # By length too: the median is over the streams themselves (cut streams are few).
    return ctx.tally(streams.filter(pl.col("_cut") & pl.col("client_id").is_in(affected["client_id"].implode())), "duration_s")


@detector("stream-cut", select=_cut_streams)
def stream_cut(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0 or not ctx.logs("duration_s"):
        return []
    median = tally.select(pl.col("duration_s").repeat_by("n").explode().median()).item()
    detail = (
        f"{tally['n'].sum()} SSE stream(s) from {tally['client_id'].n_unique()} client(s) ended at a timeout-like length "
        f"(median {median:.0f} s) or with {'/'.join(map(str, CUT_STATUSES))}: a proxy's idle or read timeout is cutting them."
    )
    return [ctx.finding("stream-cut", "medium", "SSE streams cut at a proxy timeout", detail, tally)]


def _fallbacks(ctx: Context) -> pl.DataFrame:
    """An endpoint POST refused with 400/404/405, then a GET of an SSE path in the same attempt. The GET is
    a stream, written to the log when it closes, so it is looked for in the attempt, not on the next line."""
    endpoint = pl.col("role") == "endpoint"
    refused = ctx.requests.filter(endpoint & (pl.col("method") == "POST") & pl.col("status").is_in([400, 404, 405]))
    streams = ctx.requests.filter(endpoint & (pl.col("method") == "GET") & pl.col("attempt").is_in(refused["attempt"].implode()))
    streams = streams.filter(per_distinct(streams["path"], lambda p: p.str.contains(SSE_PATH)).fill_null(False))
    opened = streams.select("attempt", pl.col("start").alias("_stream_start"), pl.col("seq").alias("_stream_seq"))
    rows = refused.join(opened, on="attempt").filter(pl.col("_stream_start") >= pl.col("start"))
    rows = rows.unique("seq", keep="first", maintain_order=True)
    return ctx.tally(rows, partner="_stream_seq")


@detector("legacy-transport-fallback", select=_fallbacks)
def legacy_transport_fallback(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    detail = (
        f"{tally['client_id'].n_unique()} client(s) had POST to the Streamable HTTP endpoint fail and fell back to the "
        "legacy HTTP+SSE transport (GET /sse), {n} times.".format(n=tally["n"].sum())
    )
    return [ctx.finding("legacy-transport-fallback", "low", "Clients fall back to the legacy SSE transport", detail, tally, pairs=True)]


def _peaks(keys: pl.Series, name: str) -> pl.DataFrame:
    """Per client, the most keys in one time bucket, from (client code, bucket) pairs packed by pair_key:
    the keys sorted and counted in runs, far cheaper than a group-by of millions of distinct keys."""
    runs = keys.sort().rle().struct.unnest()
    return runs.group_by((pl.col("value") // PAIR_BASE).cast(pl.UInt32).alias("code")).agg(pl.col("len").max().alias(name))


def _storms(ctx: Context) -> pl.DataFrame:
    attempts = ctx.flows.attempts.filter(pl.col("counted"))
    ep = ctx.requests.select("seq", "client_id", "ts", "source", "line", "role").filter(pl.col("role") == "endpoint")
    # Whole hours and minutes of UTC time as integers: the same buckets as dt.truncate, far cheaper; an
    # unknown time is a bucket of its own. A client is its id's code, named again from one row per client.
    code = pl.col("client_id").to_physical().alias("code")
    hour = (pl.col("start").dt.epoch("us") // 3_600_000_000).fill_null(PAIR_BASE - 1)
    minute = (pl.col("ts").dt.epoch("us") // 60_000_000).fill_null(PAIR_BASE - 1)
    if ctx.carried is not None:
        return _storms_with_carried(ctx, attempts, ep, hour, minute)
    clients = ctx.requests["client_id"].gather(ctx.requests["ckey"].arg_unique()).to_frame().select(code, "client_id")
    hourly = _peaks(attempts.select(pair_key(code, hour)).to_series(), "peak").join(clients, on="code").drop("code")
    minutely = _peaks(ep.select(pair_key(code, minute)).to_series(), "peak_rpm").join(clients, on="code").drop("code")
    storming = hourly.join(minutely, on="client_id", how="full", coalesce=True).filter(_storming())
    rows = ep.filter(pl.col("client_id").is_in(storming["client_id"].implode()))
    # Every storming client has endpoint requests (its peak counts them), so each keeps its row.
    return ctx.tally(rows).join(storming.with_columns(pl.col("client_id").cast(rows.schema["client_id"])), on="client_id", how="left")


def _storming() -> pl.Expr:
    return (pl.col("peak") >= STORM_ATTEMPTS_PER_HOUR) | (pl.col("peak_rpm") >= STORM_REQUESTS_PER_MINUTE)


def _storms_with_carried(ctx: Context, attempts: pl.DataFrame, ep: pl.DataFrame, hour: pl.Expr, minute: pl.Expr) -> pl.DataFrame:
    """`_storms` where `logscope watch` folded some of a client's requests away: the same buckets, counted
    from the retained requests and added to the folded ones' (the busiest bucket so far and the open one's
    count). An attempt whose start was counted when folded is not counted again."""
    carried = ctx.carried
    assert carried is not None

    def peaks(rows: pl.DataFrame, bucket: pl.Expr, name: str) -> pl.DataFrame:
        counts = (
            rows.group_by("client_id", bucket.alias("bucket")).agg(pl.len().alias("n")).with_columns(pl.col("client_id").cast(pl.String))
        )
        open_bucket = carried.select("client_id", pl.col(f"{name}_at").alias("bucket"), pl.col(f"{name}_n").alias("n")).drop_nulls("bucket")
        summed = pl.concat([counts, open_bucket], how="vertical_relaxed").group_by("client_id", "bucket").agg(pl.col("n").sum())
        busiest = pl.concat(
            [summed.group_by("client_id").agg(pl.col("n").max().alias(name)), carried.select("client_id", pl.col(name).fill_null(0))],
            how="vertical_relaxed",
        )
        return busiest.group_by("client_id").agg(pl.col(name).max())

    if "carried" in attempts.columns:
        attempts = attempts.filter(~pl.col("carried"))
    storming = (
        peaks(attempts, hour, "peak").join(peaks(ep, minute, "peak_rpm"), on="client_id", how="full", coalesce=True).filter(_storming())
    )
    rows = ep.filter(pl.col("client_id").is_in(storming["client_id"].cast(ep.schema["client_id"]).implode()))
    retained = ctx.tally(rows).with_columns(pl.col("client_id").cast(pl.String))
    folded = carried.filter(pl.col("client_id").is_in(storming["client_id"].implode()) & (pl.col("endpoint_requests") > 0)).select(
        "client_id",
        pl.col("endpoint_requests").cast(pl.UInt32).alias("n"),
        pl.col("ep_first_seen").alias("first_seen"),
        pl.col("ep_last_seen").alias("last_seen"),
    )
    both = (
        pl.concat([folded, retained], how="diagonal_relaxed")
        .group_by("client_id", maintain_order=True)
        .agg(
            pl.col("n").sum(),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            pl.col("first").drop_nulls().first(),
            pl.lit(ctx.shard, pl.UInt32).alias("shard"),
        )
    )
    return both.join(storming, on="client_id", how="left")


@detector("reconnect-storm", select=_storms)
def reconnect_storm(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    ids = tally["client_id"].to_list()
    peak = tally["peak"].max() or 0
    detail = (
        f"{len(ids)} client(s) reconnect far faster than a person would: up to {peak} attempts in one hour "
        f"(up to {tally['peak_rpm'].max() or 0} endpoint requests in one minute). Usually a symptom of another "
        "finding; the loop itself costs the server and fills its logs."
    )
    severity = "medium" if ctx.any_failing(ids) else "low"
    return [ctx.finding("reconnect-storm", severity, "Clients reconnect in a tight loop", detail, tally, count=int(peak))]  # type: ignore[arg-type]
