"""What `logscope watch` keeps of the requests it no longer holds: one row of sums per client.

Why: a client that never goes quiet (an agent posting every second) would otherwise be analysed again, batch
after batch, over everything it sent within `--forget-after`. So once the log's time is past them by as much
as lines have been seen arriving out of order (LiveState.disorder), a client's requests are *folded*: taken
out of the retained rows and added to its row of the carry, up to its first request that a detector reads
beyond counting it (`foldable`). From that one on, its requests are kept as before (bounded by
`--forget-after` and `--max-clients`).

The rules stay where they are (flows.py, the detectors); this module only keeps their sums:
- the clients table's partial aggregates (flows.client_partials: counts, first and last seen, the transport
  flags, the first paths). The schemes are kept as logged (and the inputs of the requests whose scheme is not
  logged), because whether such a request was HTTPS depends on what the whole log says of its server;
- the attempts: how many folded attempts are over (all successful: a folded endpoint request is a 2xx), and
  the last one, which the next request may still continue (the gap rule): its start, end, counts and the
  statuses that decide it;
- what the per-client detectors count over all of a client's requests: reconnect-storm's busiest hour of
  attempts and minute of endpoint requests (the last bucket of each still open), auth-loop's successes;
- what the server's transport facts count (a logged scheme);
- (in LiveState.folded_tallies) the tallies of the detectors that count request by request (Detector.local).

`carry_into` adds a carry to a batch's analysis (flows.build_flows of the retained rows); `fold` moves the
settled requests of an analysis into the carry. Both are whole-frame Polars work, no loop per request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl

from ..flows import (
    MAX_PATHS,
    MCP_HEADERS,
    REDIRECTS,
    SUMMED,
    TRANSPORT_FLAGS,
    FlowOptions,
    Flows,
    attempt_counts,
    counted,
    finish_clients,
    mcp_transport_flags,
)
from ..schema import CANONICAL, UTC_DATETIME

#: How far behind the log's newest time a request must be to be folded: as far as lines have been seen
#: arriving out of order (an input's own disorder, or lines older than what was already read), at most this.
#: A line later than that is still counted and analysed, after what was folded (LiveState.late counts them).
MAX_FOLD_LAG = timedelta(minutes=1)

_TIME, _STATUS, _SOURCES = UTC_DATETIME, CANONICAL["status"], pl.List(pl.String)
#: One row per client whose requests were folded.
CARRY_SCHEMA: dict[str, pl.DataType] = {
    "client_id": pl.String(), "ip": pl.String(), "user_agent": pl.String(),
    **{c: pl.Int64() for c in SUMMED},
    "first_seen": _TIME, "last_seen": _TIME, "ep_first_seen": _TIME, "ep_last_seen": _TIME,
    "has_flow": pl.Boolean(),
    **{f"{scope}_{k}": pl.Boolean() for scope in ("flow", "all") for k in ("http", "https", "logged")},
    "flow_unlogged": _SOURCES, "all_unlogged": _SOURCES,
    **{c: pl.Boolean() for c in TRANSPORT_FLAGS},
    "paths": pl.List(pl.String), "scheme_logged": pl.Boolean(),
    # the folded attempt the next request may continue
    "o_start": _TIME, "o_last_start": _TIME, "o_end": _TIME, "o_requests": pl.Int64(), "o_endpoint_requests": pl.Int64(),
    "o_last_post": _STATUS, "o_last_ep": _STATUS, "o_first_scheme": pl.String(), "o_first_source": pl.String(),
    "o_https": pl.Boolean(), "o_unlogged": _SOURCES,
    # the folded attempts that are over (all successful) and when the last ended
    "closed": pl.Int64(), "closed_end": _TIME,
    # reconnect-storm: attempts per hour, endpoint requests per minute (the busiest bucket before the open one)
    "peak": pl.Int64(), "peak_at": pl.Int64(), "peak_n": pl.Int64(),
    "peak_rpm": pl.Int64(), "peak_rpm_at": pl.Int64(), "peak_rpm_n": pl.Int64(),
}  # fmt: skip


def empty_carry() -> pl.DataFrame:
    return pl.DataFrame(schema=CARRY_SCHEMA)


def foldable(hsts_sources: Sequence[str]) -> pl.Expr:
    """A request that no detector reads beyond counting it, or only request by request (`Detector.local`,
    whose tallies the carry keeps: HSTS): not a redirect, not plain HTTP as logged (credentials, MCP served
    over HTTP), no token endpoint; from an input that logs response headers, only with its scheme logged
    (whether an unlogged one was HTTPS can change with what the log shows later); an endpoint request only
    if it succeeded and is not a stream with a duration (stream-cut); nothing of OAuth discovery.
    What the other detectors read over all of a client's requests is kept in the carry (reconnect-storm's
    buckets, auth-loop's successes, the endpoint status before a continued attempt)."""
    role, status = pl.col("role"), pl.col("status")
    plain = pl.col("scheme") == "http"
    headers = pl.col("source").cast(pl.String).is_in(list(hsts_sources)) & pl.col("scheme").is_null()
    common = ~status.is_in(REDIRECTS) & ~plain.fill_null(False) & ~headers
    token = pl.col("path").cast(pl.String).str.ends_with("/token")
    endpoint = (role == "endpoint") & status.is_between(200, 299) & ~((pl.col("method") == "GET") & pl.col("duration_s").is_not_null())
    return (common & (((role == "other") & ~token) | endpoint)).fill_null(False)


def _any_in(column: str, sources: Sequence[str]) -> pl.Expr:
    return pl.col(column).list.eval(pl.element().is_in(list(sources))).list.any().fill_null(False)


# -- the carry as the partials and attempts flows.py reads --------------------------------------------------


def _as_partials(carry: pl.DataFrame, redirecting: Mapping[str, Sequence[int]]) -> pl.DataFrame:
    """The carry's rows as flows.client_partials rows: a request whose scheme is not logged was HTTPS where the
    log shows its server redirects plain HTTP (flows.annotate; a folded request is never a redirect)."""
    sources = list(redirecting)
    flags = []
    for scope in ("flow", "all"):
        inferred = _any_in(f"{scope}_unlogged", sources)
        flags += [
            pl.col(f"{scope}_http").alias(f"_{scope}_http"),
            (pl.col(f"{scope}_https") | inferred).alias(f"_{scope}_https"),
            pl.col(f"{scope}_logged").alias(f"_{scope}_logged"),
            inferred.alias(f"_{scope}_inferred"),
        ]
    return carry.select(
        "client_id", "ip", "user_agent", *SUMMED, "first_seen", "last_seen", pl.col("has_flow").alias("_has_flow"), *flags,
        *TRANSPORT_FLAGS, "paths",
    )  # fmt: skip


def extend_lists(earlier: pl.DataFrame, later: pl.DataFrame, column: str, limit: int | None = None) -> pl.DataFrame:
    """Per client of either, the list `column` of `earlier` followed by the values of `later`'s list it does
    not hold yet, in order of first appearance, at most `limit`. Most clients bring nothing new: they are
    found by one vectorised set difference, and only the others are merged value by value (as a frame)."""
    both = earlier.select("client_id", column).join(later.select("client_id", column), on="client_id", how="full", coalesce=True)
    new = pl.col(f"{column}_right")
    grows = new.list.set_difference(pl.col(column).fill_null(pl.lit([], pl.List(pl.String)))).list.len().fill_null(0) > 0
    both = both.with_columns(grows.alias("_grows"))
    kept = both.filter(~pl.col("_grows")).select("client_id", pl.coalesce(column, new).alias(column))
    growing = both.filter("_grows")
    if growing.height == 0:
        return kept
    values = growing.select("client_id", pl.concat_list(pl.col(column).fill_null(pl.lit([], pl.List(pl.String))), new).alias(column))
    pairs = values.explode(column).drop_nulls(column).unique(maintain_order=True)
    merged = pairs.group_by("client_id", maintain_order=True).agg(pl.col(column) if limit is None else pl.col(column).head(limit))
    return pl.concat([kept, merged])


def _lists(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per client, the distinct values of `column` over its rows, in order of first appearance."""
    return (
        rows.select("client_id", column)
        .drop_nulls(column)
        .unique(maintain_order=True)
        .group_by("client_id", maintain_order=True)
        .agg(column)
    )


def combine_partials(earlier: pl.DataFrame, later: pl.DataFrame) -> pl.DataFrame:
    """Two parts' client_partials (each client's requests in `earlier` before those in `later`) as one."""
    flags = [c for c in later.columns if c.startswith(("_flow_", "_all_")) or c in ("_has_flow", *TRANSPORT_FLAGS)]
    both = pl.concat([earlier.select(later.columns).drop("paths"), later.drop("paths")], how="vertical_relaxed")
    combined = both.group_by("client_id", maintain_order=True).agg(
        pl.col("ip", "user_agent").first(),
        *[pl.col(c).sum() for c in SUMMED],
        pl.col("first_seen").min(),
        pl.col("last_seen").max(),
        *[pl.col(c).any() for c in flags],
    )
    paths = extend_lists(earlier, later, "paths", limit=MAX_PATHS)
    combined = combined.join(paths, on="client_id", how="left", maintain_order="left")
    return combined.cast({c: t for c, t in later.schema.items() if c in combined.columns})


def _effective_scheme(scheme: str, source: str, redirecting: Mapping[str, Sequence[int]]) -> pl.Expr:
    return pl.coalesce(pl.col(scheme), pl.when(pl.col(source).is_in(list(redirecting))).then(pl.lit("https")))


def _chain_late(flows: Flows, carry: pl.DataFrame, gap_us: int) -> Flows:
    """Retained attempts that each continue the carried one, counted from where it reached: one attempt.

    Only a request that began before what was folded of its client (a stream logged when it closes) makes
    two of them: it starts an attempt of its own among the retained requests, and the requests after it
    another, while in the whole log they all continue the folded attempt."""
    opened = carry.filter(pl.col("o_start").is_not_null()).select("client_id", "o_last_start")
    if opened.height == 0 or flows.attempts.height == 0:
        return flows
    # Only a retained attempt that began before the folded one's last request can do it: mostly none.
    firsts = flows.attempts.group_by(pl.col("client_id").cast(pl.String)).agg(pl.col("start").min())
    if firsts.join(opened, on="client_id").filter(pl.col("start") < pl.col("o_last_start")).height == 0:
        return flows
    req = flows.requests
    in_flow = req.filter(pl.col("role") != "other")
    reach = in_flow.group_by("attempt").agg(pl.col("start").max().alias("_reach"))
    tail = (
        flows.attempts.select(pl.col("client_id").cast(pl.String), "attempt", "start")
        .join(opened, on="client_id")
        .join(reach, on="attempt")
        .sort("client_id", "attempt")
    )
    before = pl.max_horizontal(pl.col("_reach").cum_max().shift(1).over("client_id"), pl.col("o_last_start"))
    ok = ((pl.col("start") - before).dt.total_microseconds() <= gap_us).cast(pl.UInt8).cum_min().over("client_id") == 1
    chained = tail.filter(ok).with_columns(pl.col("attempt").min().over("client_id").alias("_into"))
    chained = chained.filter(pl.len().over("client_id") > 1)
    if chained.height == 0:
        return flows
    into = chained.select("attempt", "_into")
    # The requests of the chained attempts under the first one's number; the endpoint request before each
    # one read again in the merged attempt (the first one's stays null: it follows the carried attempt).
    req = req.join(into, on="attempt", how="left", maintain_order="left").with_columns(pl.coalesce("_into", "attempt").alias("attempt"))
    merged_ep = (pl.col("role") == "endpoint") & pl.col("_into").is_not_null()
    order = pl.col("start").rank("ordinal").over("attempt", pl.col("role"))
    ranked = req.filter(merged_ep).with_columns(order.alias("_k")).sort("attempt", "_k")
    previous = ranked.select(
        "seq",
        pl.col("status").shift(1).over("attempt").alias("_prev_status"),
        pl.col("seq").shift(1).over("attempt").alias("_prev_seq"),
    )
    req = (
        req.join(previous, on="seq", how="left", maintain_order="left")
        .with_columns(
            pl.when(merged_ep)
            .then(pl.col("_prev_status"))
            .otherwise(pl.col("prev_endpoint_status"))
            .cast(req.schema["prev_endpoint_status"])
            .alias("prev_endpoint_status"),
            pl.when(merged_ep)
            .then(pl.col("_prev_seq"))
            .otherwise(pl.col("prev_endpoint_seq"))
            .cast(req.schema["prev_endpoint_seq"])
            .alias("prev_endpoint_seq"),
        )
        .drop("_into", "_prev_status", "_prev_seq")
    )
    # Their attempt rows as one: the last endpoint POST decides, else the last endpoint request (flows._attempts).
    parts = flows.attempts.join(into, on="attempt").sort("attempt")
    last_posted = pl.col("deciding_status").filter(pl.col("posted")).last()
    last_ep = pl.col("deciding_status").filter(pl.col("endpoint_requests") > 0).last()
    one = parts.group_by("_into").agg(
        pl.col("client_id").first(), pl.col("start").min(), pl.col("end").max(), pl.col("requests", "endpoint_requests").sum(),
        pl.coalesce(last_posted, last_ep).alias("deciding_status"), pl.col("first_scheme").first(), pl.col("reached_https").any(),
        pl.col("first_seq").first(), pl.col("posted").any(), pl.col("probe").all(),
    ).rename({"_into": "attempt"})  # fmt: skip
    one = one.with_columns(counted().alias("counted"), pl.col("deciding_status").is_between(200, 299).fill_null(False).alias("success"))
    attempts = pl.concat(
        [flows.attempts.join(into, on="attempt", how="anti"), one.select(flows.attempts.columns)], how="vertical_relaxed"
    ).sort("attempt")
    return Flows(
        requests=req, attempts=attempts, clients=flows.clients, server=flows.server, options=flows.options, partials=flows.partials
    )


def carry_into(flows: Flows, carry: pl.DataFrame, redirecting: Mapping[str, Sequence[int]], options: FlowOptions) -> Flows:
    """`flows` (of the retained requests of some addresses) with what `carry` holds of those addresses' clients:
    the open attempt continued by a client's first retained one (or kept as an attempt of its own), the
    successful attempts that are over (as one row of weight `closed`), the endpoint status before the first
    request of a continued attempt (session-lost reads it), and the clients table from both.

    The attempts gain `weight` (attempts a row stands for), `carried` (its start was counted when it was
    folded: reconnect-storm's busiest hour) and `continued` (a retained attempt that continues the carried one)."""
    gap_us = int(options.attempt_gap_s * 1e6)
    sources = list(redirecting)
    flows = _chain_late(flows, carry, gap_us)
    attempts = flows.attempts.with_columns(pl.col("client_id").cast(pl.String))
    first = attempts.group_by("client_id").agg(pl.col("attempt").min(), pl.col("start").min().alias("_first_start"))
    joined = carry.filter(pl.col("o_start").is_not_null()).join(first, on="client_id", how="left")
    continues = ((pl.col("_first_start") - pl.col("o_last_start")).dt.total_microseconds() <= gap_us).fill_null(False)
    cont, alone = joined.filter(continues), joined.filter(~continues)
    req = flows.requests
    reached = pl.col("o_https") | _any_in("o_unlogged", sources)
    merged = (
        attempts.join(cont.select("client_id", "attempt", pl.col("^o_.*$")), on=["client_id", "attempt"], how="inner")
        .with_columns(
            pl.col("o_start").alias("start"),
            pl.col("requests") + pl.col("o_requests"),
            pl.col("endpoint_requests") + pl.col("o_endpoint_requests"),
            # What decides: the last endpoint POST, else the last endpoint request (flows._attempts), of both parts.
            pl.when(pl.col("posted"))
            .then(pl.col("deciding_status"))
            .otherwise(pl.coalesce("o_last_post", "deciding_status", "o_last_ep"))
            .alias("deciding_status"),
            (pl.col("posted") | pl.col("o_last_post").is_not_null()).alias("posted"),
            # A probe only if what was folded of it held no endpoint request (a folded one is a 2xx).
            (pl.col("probe") & (pl.col("o_endpoint_requests") == 0)).alias("probe"),
            _effective_scheme("o_first_scheme", "o_first_source", redirecting).alias("first_scheme"),
            (pl.col("reached_https") | reached).alias("reached_https"),
        )
        .select(attempts.columns)
    )
    carried = [
        alone.select(
            pl.lit(0, pl.UInt32).alias("attempt"), "client_id", pl.col("o_start").alias("start"), pl.col("o_end").alias("end"),
            pl.col("o_requests").alias("requests"), pl.col("o_endpoint_requests").alias("endpoint_requests"),
            pl.coalesce("o_last_post", "o_last_ep").alias("deciding_status"), pl.col("o_last_post").is_not_null().alias("posted"),
            _effective_scheme("o_first_scheme", "o_first_source", redirecting).alias("first_scheme"),
            reached.alias("reached_https"), pl.lit(1, pl.UInt32).alias("weight"),
        ),
        # Folded attempts that are over: all successful, and only counted (and timed, for "recovered").
        carry.filter(pl.col("closed") > 0).select(
            pl.lit(0, pl.UInt32).alias("attempt"), "client_id", pl.col("closed_end").alias("start"), pl.col("closed_end").alias("end"),
            pl.lit(0).alias("requests"), pl.lit(1).alias("endpoint_requests"), pl.lit(200).alias("deciding_status"),
            pl.lit(True).alias("posted"),
            pl.col("closed").cast(pl.UInt32).alias("weight"), pl.lit(True).alias("over"),
        ),
    ]  # fmt: skip
    kept = attempts.join(cont.select("client_id", "attempt"), on=["client_id", "attempt"], how="anti")
    patched = pl.concat(
        [
            *[c.with_columns(pl.lit(True).alias("carried"), pl.lit(False).alias("continued")) for c in carried],
            merged.with_columns(pl.lit(1, pl.UInt32).alias("weight"), pl.lit(True).alias("carried"), pl.lit(True).alias("continued")),
            kept.with_columns(pl.lit(1, pl.UInt32).alias("weight"), pl.lit(False).alias("carried"), pl.lit(False).alias("continued")),
        ],
        how="diagonal_relaxed",
    )
    patched = (
        patched.with_columns(
            pl.col("probe").fill_null(False),  # the carried rows: folded requests are no probe's (see foldable)
        )
        .with_columns(
            counted().alias("counted"),
            pl.col("deciding_status").is_between(200, 299).fill_null(False).alias("success"),
        )
        .with_columns(pl.col("over").fill_null(False))
        .select(*attempts.columns, "weight", "carried", "continued", "over")
        .sort("client_id", "attempt", "start")
    )
    if cont.height:
        # session-lost: the first endpoint request of a continued attempt follows the carried one's last (a 2xx).
        before = req.select("attempt").join(cont.select("attempt", "o_last_ep"), on="attempt", how="left", maintain_order="left")
        first_ep = (pl.col("role") == "endpoint") & pl.col("prev_endpoint_seq").is_null() & pl.lit(before["o_last_ep"]).is_not_null()
        req = req.with_columns(
            pl.when(first_ep).then(pl.lit(before["o_last_ep"])).otherwise(pl.col("prev_endpoint_status"))
            .cast(req.schema["prev_endpoint_status"]).alias("prev_endpoint_status")
        )  # fmt: skip
    tail = flows.partials if flows.partials is not None else pl.DataFrame()
    tail = tail.drop("ckey", strict=False).with_columns(pl.col("client_id", "ip", "user_agent").cast(pl.String))
    partials = combine_partials(_as_partials(carry, redirecting), tail)
    clients = finish_clients(partials, attempt_counts(patched), options)
    return Flows(requests=req, attempts=patched, clients=clients, server=flows.server, options=options, partials=partials)


# -- folding ---------------------------------------------------------------------------------------------

HOUR_US, MINUTE_US = 3_600_000_000, 60_000_000


def _buckets(old: pl.DataFrame, new: pl.DataFrame, name: str) -> pl.DataFrame:
    """Per client, a busiest-bucket count kept as `name` (the most in any bucket before the open one), the open
    bucket `<name>_at` and its count `<name>_n`, from the old carry and new (client_id, bucket, n) counts.
    (Group-bys of plain sums and maxima only: Polars' fast path.)"""
    at, n = f"{name}_at", f"{name}_n"
    rows = pl.concat(
        [old.select("client_id", pl.col(at).alias("bucket"), pl.col(n).alias("n")).drop_nulls("bucket"), new], how="vertical_relaxed"
    )
    summed = rows.group_by("client_id", "bucket").agg(pl.col("n").sum())
    latest = summed.group_by("client_id").agg(pl.col("bucket").max().alias(at))
    is_open = pl.col("bucket") == pl.col(at)
    counted = (
        summed.join(latest, on="client_id")
        .group_by("client_id", at)
        .agg(pl.when(is_open).then(pl.col("n")).sum().alias(n), pl.when(~is_open).then(pl.col("n")).max().alias("_before"))
    )
    return counted.join(old.select("client_id", name), on="client_id", how="left").select(
        "client_id", pl.max_horizontal(name, "_before").fill_null(0).alias(name), at, n
    )


def fold(flows: Flows, carry: pl.DataFrame, cut: datetime, hsts_sources: Sequence[str]) -> tuple[pl.DataFrame, pl.Series]:
    """Move each client's requests up to `cut` and before its first one that is not `foldable` into the carry
    (when none of those it keeps started before them). Returns the new carry and the folded requests' `_rid`."""
    needed = ["_rid", "client_id", "client_ip", "user_agent", "ts", "start", "role", "status", "method", "duration_s", "scheme", "source",
              *MCP_HEADERS]  # fmt: skip
    req = flows.requests.select(*needed, "path", "attempt")
    # A client's requests up to `cut` and before the first that is not foldable: cutting a client's requests
    # there is like a batch ending there, which the retained analysis already handles (carry_into).
    early = pl.col("ts") <= cut
    blocked_at = pl.when(early & ~foldable(hsts_sources)).then(pl.col("ts")).min().over("client_id")
    req = req.with_columns((early & (blocked_at.is_null() | (pl.col("ts") < blocked_at))).alias("_fold"))
    per_client = req.group_by("client_id").agg(
        pl.col("_fold").any().alias("_some"),
        pl.when("_fold").then(pl.col("start")).max().alias("_last"),
        pl.when(~pl.col("_fold")).then(pl.col("start")).min().alias("_next"),
    )
    ready = per_client.filter(pl.col("_some") & (pl.col("_next").is_null() | (pl.col("_last") <= pl.col("_next"))))
    rows = req.filter(pl.col("_fold") & pl.col("client_id").is_in(ready["client_id"].implode()))
    rows = rows.drop("_fold").with_columns(pl.col("client_id").cast(pl.String))
    if rows.height == 0:
        return carry, pl.Series("_rid", [], pl.UInt64)
    ids = ready["client_id"].cast(pl.String).implode()
    old = carry.filter(pl.col("client_id").is_in(ids))
    flow, ep = pl.col("role") != "other", pl.col("role") == "endpoint"
    scheme, source = pl.col("scheme"), pl.col("source").cast(pl.String)
    columns, transport = mcp_transport_flags(rows)
    new = (
        rows.with_columns(*columns)
        .group_by("client_id", maintain_order=True)
        .agg(
            pl.col("client_ip").first().cast(pl.String).alias("ip"),
            pl.col("user_agent").first().cast(pl.String),
            pl.len().alias("requests"),
            ep.sum().alias("endpoint_requests"),
            *[(ep & (pl.col("status") // 100 == k)).sum().alias(f"endpoint_{k}xx") for k in (2, 3, 4, 5)],
            pl.col("ts").min().alias("first_seen"),
            pl.col("ts").max().alias("last_seen"),
            flow.any().alias("has_flow"),
            *[
                c
                for scope, where in (("flow", flow), ("all", pl.lit(True)))
                for c in (
                    (where & (scheme == "http")).any().alias(f"{scope}_http"),
                    (where & (scheme == "https")).any().alias(f"{scope}_https"),
                    (where & scheme.is_not_null()).any().alias(f"{scope}_logged"),
                )
            ],
            *transport,
            pl.when(ep).then(pl.col("ts")).min().alias("ep_first_seen"),
            pl.when(ep).then(pl.col("ts")).max().alias("ep_last_seen"),
            scheme.is_not_null().any().alias("scheme_logged"),
        )
    )
    parts = pl.concat([old.select(new.columns), new], how="vertical_relaxed")
    summed = parts.group_by("client_id", maintain_order=True).agg(
        pl.col("ip", "user_agent").first(),
        *[pl.col(c).sum() for c in SUMMED],
        pl.col("first_seen", "ep_first_seen").min(),
        pl.col("last_seen", "ep_last_seen").max(),
        *[pl.col(c).any() for c in ("has_flow", "flow_http", "flow_https", "flow_logged", "all_http", "all_https", "all_logged")],
        *[pl.col(c).any() for c in TRANSPORT_FLAGS],
        pl.col("scheme_logged").any(),
    )
    # The lists: distinct (client, value) pairs of the new requests after the old lists' values.
    unlogged = rows.filter(scheme.is_null()).select("client_id", source.alias("all_unlogged"), flow.alias("_flow")).unique()
    lists = {
        "paths": rows.filter(flow).select("client_id", pl.col("path").cast(pl.String).alias("paths")),
        "all_unlogged": unlogged.select("client_id", "all_unlogged"),
        "flow_unlogged": unlogged.filter("_flow").select("client_id", pl.col("all_unlogged").alias("flow_unlogged")),
    }
    for name, values in lists.items():
        union = extend_lists(old, _lists(values, name), name, limit=MAX_PATHS if name == "paths" else None)
        summed = summed.join(union, on="client_id", how="left", maintain_order="left").with_columns(
            pl.col(name).fill_null(pl.lit([], pl.List(pl.String)))
        )
    # Attempts: the carried open one (under the number of the retained attempt that continued it, if one did)
    # and the new ones; the latest is the open one, the others are over.
    continued = flows.attempts.filter(pl.col("continued")).select(pl.col("client_id").cast(pl.String), pl.col("attempt").cast(pl.Int64))
    open_old = old.filter(pl.col("o_start").is_not_null()).join(continued, on="client_id", how="left").select(
        "client_id", pl.col("attempt").fill_null(-1).alias("key"), pl.lit(0).alias("part"),
        pl.col("o_start").alias("start"), pl.col("o_last_start").alias("last_start"), pl.col("o_end").alias("end"),
        pl.col("o_requests").alias("requests"), pl.col("o_endpoint_requests").alias("endpoint_requests"),
        pl.col("o_last_post").alias("last_post"), pl.col("o_last_ep").alias("last_ep"),
        pl.col("o_first_scheme").alias("first_scheme"), pl.col("o_first_source").alias("first_source"),
        pl.col("o_https").alias("https"), pl.col("o_unlogged").alias("unlogged"),
    )  # fmt: skip
    in_flow = rows.filter(flow).sort("start", maintain_order=True)
    open_new = in_flow.group_by("client_id", pl.col("attempt").cast(pl.Int64).alias("key")).agg(
        pl.lit(1).alias("part"),
        pl.col("start").min(), pl.col("start").max().alias("last_start"), pl.col("ts").max().alias("end"),
        pl.len().alias("requests"), ep.sum().alias("endpoint_requests"),
        pl.col("status").filter(ep & (pl.col("method") == "POST")).last().alias("last_post"),
        pl.col("status").filter(ep).last().alias("last_ep"),
        scheme.first().cast(pl.String).alias("first_scheme"), source.first().alias("first_source"),
        (scheme == "https").any().alias("https"), source.filter(scheme.is_null()).unique().alias("unlogged"),
    )  # fmt: skip
    att = (
        pl.concat([open_old, open_new], how="vertical_relaxed")
        .sort("client_id", "key", "part")
        .group_by("client_id", "key", maintain_order=True)
        .agg(
            pl.col("start").min(),
            pl.col("last_start").max(),
            pl.col("end").max(),
            pl.col("requests", "endpoint_requests").sum(),
            pl.col("last_post", "last_ep").drop_nulls().last(),
            pl.col("first_scheme", "first_source").first(),
            pl.col("https").any(),
            pl.col("unlogged").explode().drop_nulls().unique(),
        )
    )
    latest = pl.col("key") == pl.col("key").max().over("client_id")
    over = att.filter(~latest).group_by("client_id").agg(pl.len().alias("_closed"), pl.col("end").max().alias("_closed_end"))
    opened = att.filter(latest).select(
        "client_id", *[pl.col(c).alias(f"o_{c}") for c in ("start", "last_start", "end", "requests", "endpoint_requests", "last_post",
                                                         "last_ep", "first_scheme", "first_source", "https", "unlogged")],
    )  # fmt: skip
    # reconnect-storm's buckets: attempts by the hour they started (a continued one was counted when folded),
    # endpoint requests by the minute they were logged.
    new_hours = (
        open_new.join(continued.rename({"attempt": "key"}), on=["client_id", "key"], how="anti")
        .group_by("client_id", (pl.col("start").dt.epoch("us") // HOUR_US).alias("bucket"))
        .agg(pl.len().alias("n"))
    )
    new_minutes = rows.filter(ep).group_by("client_id", (pl.col("ts").dt.epoch("us") // MINUTE_US).alias("bucket")).agg(pl.len().alias("n"))
    updated = (
        summed.join(opened, on="client_id", how="left")
        .join(old.select("client_id", "closed", "closed_end"), on="client_id", how="left")
        .join(over, on="client_id", how="left")
        .with_columns(
            (pl.col("closed").fill_null(0) + pl.col("_closed").fill_null(0)).alias("closed"),
            pl.max_horizontal("closed_end", "_closed_end").alias("closed_end"),
        )
        .drop("_closed", "_closed_end")
        .join(_buckets(old, new_hours, "peak"), on="client_id", how="left")
        .join(_buckets(old, new_minutes, "peak_rpm"), on="client_id", how="left")
    )
    kept = carry.filter(~pl.col("client_id").is_in(ids))
    return pl.concat([kept, updated.select([pl.col(c).cast(t) for c, t in CARRY_SCHEMA.items()])]), rows["_rid"]


def fold_tallies(folded: pl.DataFrame | None, tally: pl.DataFrame) -> pl.DataFrame | None:
    """A local detector's tally of folded requests added to what it already held (Detector.local): per
    client and value, the counts add, the first and last seen widen, the first evidence stays."""
    if tally.height == 0:
        return folded
    if folded is None or folded.height == 0:
        return tally
    by = [c for c in tally.columns if c not in ("client_id", "n", "first_seen", "last_seen", "first", "shard")]
    both = pl.concat([folded, tally], how="diagonal_relaxed")
    return both.group_by("client_id", *by, maintain_order=True).agg(
        pl.col("n").sum(), pl.col("first_seen").min(), pl.col("last_seen").max(), pl.col("first", "shard").first()
    )
