"""What `logscope watch` keeps of the requests it no longer holds: one row of partials per client.

Why: a client that never goes quiet (an agent posting every second) would otherwise be analysed again, batch
after batch, over everything it sent within `--forget-after`. So once the log's time is past them by as much
as lines have been seen arriving out of order (LiveState.disorder), a client's requests are *folded*: taken
out of the retained rows and added to its row of the carry, up to its first request that a detector reads
beyond counting it (`foldable`). From that one on, its requests are kept as before (bounded by
`--forget-after` and `--max-clients`).

The carry holds no rule of its own: it stores the partials of flows.rules and combines them with the retained
requests' as the whole-log run would have computed them.
- the client partial (rules.client_partial), with the schemes as logged and the inputs of the requests whose
  scheme is not logged (`_*_unlogged`): whether such a request was HTTPS depends on what the whole log says of
  its server (rules.inferred_https), which can change after it was folded;
- the partial of the client's last folded attempt (`o_*`, rules.attempt_partial), which the next request may
  still continue, and how many folded attempts are over (all successful: a folded endpoint request is a 2xx);
- what the per-client detectors count over all of a client's requests: reconnect-storm's busiest hour of
  attempts and minute of endpoint requests (the last bucket of each still open), auth-loop's successes;
- (in LiveState.folded_tallies) the tallies of the detectors that count request by request (Detector.local).

`carry_into` adds a carry to a batch's analysis (flows.build_flows of the retained rows); `fold` moves the
settled requests of an analysis into the carry. Both are whole-frame Polars work, no loop per request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl

from ..flows import REDIRECTS, FlowOptions, Flows
from ..flows.rules import (
    MCP_HEADERS,
    SCHEME_FLAGS,
    SUMMED,
    TRANSPORT_FLAGS,
    attempt_counts,
    attempt_partial,
    client_columns,
    client_partial,
    combine_attempts,
    combine_clients,
    continues_attempt,
    finish_attempts,
    finish_clients,
    inferred_https,
)
from ..schema import CANONICAL, UTC_DATETIME

#: How far behind the log's newest time a request must be to be folded: as far as lines have been seen
#: arriving out of order (an input's own disorder, or lines older than what was already read), at most this.
#: A line later than that is still counted and analysed, after what was folded (LiveState.late counts them).
MAX_FOLD_LAG = timedelta(minutes=1)

_TIME, _STATUS, _SOURCES, _FLAG = UTC_DATETIME, CANONICAL["status"], pl.List(pl.String), pl.Boolean()
#: The attempt partial's columns (rules.attempt_partial) the carry keeps of a client's last folded attempt, as
#: `o_<name>`, with the input of its first request and of those whose scheme is not logged.
OPEN_ATTEMPT: dict[str, pl.DataType] = {
    "start": _TIME, "last_start": _TIME, "end": _TIME, "requests": pl.Int64(), "endpoint_requests": pl.Int64(),
    "last_post": _STATUS, "last_endpoint": _STATUS, "first_scheme": pl.String(), "reached_https": _FLAG,
    "_discovery": _FLAG, "_connecting": _FLAG, "_challenged": _FLAG, "first_source": pl.String(), "unlogged": _SOURCES,
}  # fmt: skip


def _open(name: str) -> str:
    return "o" + ("" if name.startswith("_") else "_") + name


#: One row per client whose requests were folded.
CARRY_SCHEMA: dict[str, pl.DataType] = {
    "client_id": pl.String(), "ip": pl.String(), "user_agent": pl.String(),
    **{c: pl.Int64() for c in SUMMED},
    "first_seen": _TIME, "last_seen": _TIME, "ep_first_seen": _TIME, "ep_last_seen": _TIME,
    "_has_flow": _FLAG,
    **{f"_{scope}{k}": _FLAG for scope in ("flow", "all") for k in SCHEME_FLAGS},
    "_flow_unlogged": _SOURCES, "_all_unlogged": _SOURCES,
    **{c: _FLAG for c in TRANSPORT_FLAGS},
    "paths": pl.List(pl.String),
    **{_open(c): t for c, t in OPEN_ATTEMPT.items()},
    # the folded attempts that are over (all successful) and when the last ended
    "closed": pl.Int64(), "closed_end": _TIME,
    # reconnect-storm: attempts per hour, endpoint requests per minute (the busiest bucket before the open one)
    "peak": pl.Int64(), "peak_at": pl.Int64(), "peak_n": pl.Int64(),
    "peak_rpm": pl.Int64(), "peak_rpm_at": pl.Int64(), "peak_rpm_n": pl.Int64(),
}  # fmt: skip
#: The client partial's columns, as flows.build_flows makes them.
CLIENT_PARTIAL = ["client_id", "ip", "user_agent", *SUMMED, "first_seen", "last_seen", "_has_flow",
                  *[f"_{scope}{k}" for scope in ("flow", "all") for k in SCHEME_FLAGS], *TRANSPORT_FLAGS, "paths"]  # fmt: skip


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


def _lists(rows: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per client, the distinct values of `column` over its rows, in order of first appearance."""
    return (
        rows.select("client_id", column)
        .drop_nulls(column)
        .unique(maintain_order=True)
        .group_by("client_id", maintain_order=True)
        .agg(column)
    )


def _any_in(column: str, sources: Sequence[str]) -> pl.Expr:
    return pl.col(column).list.eval(inferred_https(pl.element(), sources)).list.any().fill_null(False)


# -- the carry as the partials flows.build_flows makes -----------------------------------------------------


def _client_partials(carry: pl.DataFrame, redirecting: Mapping[str, Sequence[int]]) -> pl.DataFrame:
    """The carry's client partials, their schemes finished as annotate finishes a request's (a folded request
    is never a redirect, so its scheme is logged, or inferred HTTPS where its input redirects plain HTTP)."""
    sources = list(redirecting)
    inferred = {scope: _any_in(f"_{scope}_unlogged", sources) for scope in ("flow", "all")}
    return carry.with_columns(
        c
        for scope, https in inferred.items()
        for c in (
            (pl.col(f"_{scope}_https") | https).alias(f"_{scope}_https"),
            (pl.col(f"_{scope}_inferred") | https).alias(f"_{scope}_inferred"),
        )
    ).select(CLIENT_PARTIAL)


def _open_attempts(carry: pl.DataFrame, redirecting: Mapping[str, Sequence[int]]) -> pl.DataFrame:
    """The partials of the carried open attempts (client_id, then rules.attempt_partial's columns), their
    schemes finished (rules.inferred_https)."""
    sources = list(redirecting)
    opened = carry.filter(pl.col("o_start").is_not_null())
    first_https = pl.when(inferred_https(pl.col("o_first_source"), sources)).then(pl.lit("https"))
    return opened.select(
        "client_id",
        *[pl.col(_open(c)).alias(c) for c in OPEN_ATTEMPT if c not in ("first_scheme", "reached_https", "first_source", "unlogged")],
        pl.coalesce("o_first_scheme", first_https).alias("first_scheme"),
        (pl.col("o_reached_https") | _any_in("o_unlogged", sources)).alias("reached_https"),
        pl.lit(None, pl.UInt32).alias("first_seq"),
    )


def _combined(parts: pl.DataFrame, key: str) -> pl.DataFrame:
    """Attempt partials of the same `key`, earliest first, combined and decided (rules)."""
    return finish_attempts(parts.group_by(key, maintain_order=True).agg(pl.col("client_id").first(), *combine_attempts()))


def _chain_late(flows: Flows, carry: pl.DataFrame, gap_s: float) -> Flows:
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
    tail = (
        flows.attempts.select(pl.col("client_id").cast(pl.String), "attempt", "start", "last_start")
        .join(opened, on="client_id")
        .sort("client_id", "attempt")
    )
    before = pl.max_horizontal(pl.col("last_start").cum_max().shift(1).over("client_id"), pl.col("o_last_start"))
    ok = continues_attempt(pl.col("start"), before, gap_s).cast(pl.UInt8).cum_min().over("client_id") == 1
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
    parts = flows.attempts.join(into, on="attempt").sort("attempt").drop("attempt").rename({"_into": "attempt"})
    one = _combined(parts, "attempt")
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
    flows = _chain_late(flows, carry, options.attempt_gap_s)
    attempts = flows.attempts.with_columns(pl.col("client_id").cast(pl.String))
    first = attempts.group_by("client_id").agg(pl.col("attempt").min(), pl.col("start").min().alias("_first_start"))
    opened = _open_attempts(carry, redirecting).join(first, on="client_id", how="left")
    continues = continues_attempt(pl.col("_first_start"), pl.col("last_start"), options.attempt_gap_s).fill_null(False)
    cont, alone = opened.filter(continues), opened.filter(~continues)
    partial_columns = ["client_id", *[c for c in cont.columns if c not in ("client_id", "attempt", "_first_start")]]
    # A continued attempt: the carried partial, then the retained attempt's, combined under its number.
    parts = pl.concat(
        [
            cont.select("attempt", *partial_columns),
            attempts.join(cont.select("client_id", "attempt"), on=["client_id", "attempt"]).select("attempt", *partial_columns),
        ],
        how="vertical_relaxed",
    )
    merged = _combined(parts, "attempt")
    # Folded attempts that are over: all successful, and only counted (and timed, for "recovered").
    closed = carry.filter(pl.col("closed") > 0).select(
        "client_id", pl.col("closed_end").alias("start"), pl.col("closed_end").alias("last_start"), pl.col("closed_end").alias("end"),
        pl.lit(0).alias("requests"), pl.lit(1).alias("endpoint_requests"),
        pl.lit(200).alias("last_post"), pl.lit(200).alias("last_endpoint"),
        *[pl.lit(False).alias(c) for c in ("_discovery", "_connecting", "_challenged")],
        pl.col("closed").cast(pl.UInt32).alias("weight"), pl.lit(True).alias("over"),
    )  # fmt: skip
    carried = [
        finish_attempts(alone.drop("attempt", "_first_start")).with_columns(pl.lit(1, pl.UInt32).alias("weight")),
        finish_attempts(closed),
    ]
    kept = attempts.join(cont.select("client_id", "attempt"), on=["client_id", "attempt"], how="anti")
    patched = pl.concat(
        [
            *[
                c.with_columns(pl.lit(0, pl.UInt32).alias("attempt"), pl.lit(True).alias("carried"), pl.lit(False).alias("continued"))
                for c in carried
            ],
            merged.with_columns(pl.lit(1, pl.UInt32).alias("weight"), pl.lit(True).alias("carried"), pl.lit(True).alias("continued")),
            kept.with_columns(pl.lit(1, pl.UInt32).alias("weight"), pl.lit(False).alias("carried"), pl.lit(False).alias("continued")),
        ],
        how="diagonal_relaxed",
    )
    patched = (
        patched.with_columns(pl.col("over").fill_null(False))
        .select(*attempts.columns, "weight", "carried", "continued", "over")
        .sort("client_id", "attempt", "start")
    )
    req = flows.requests
    if cont.height:
        # session-lost: the first endpoint request of a continued attempt follows the carried one's last (a 2xx).
        last_ep = cont.select("attempt", pl.col("last_endpoint").alias("_before"))
        before = req.select("attempt").join(last_ep, on="attempt", how="left", maintain_order="left")["_before"]
        first_ep = (pl.col("role") == "endpoint") & pl.col("prev_endpoint_seq").is_null() & pl.lit(before).is_not_null()
        req = req.with_columns(
            pl.when(first_ep).then(pl.lit(before)).otherwise(pl.col("prev_endpoint_status"))
            .cast(req.schema["prev_endpoint_status"]).alias("prev_endpoint_status")
        )  # fmt: skip
    tail = flows.partials if flows.partials is not None else pl.DataFrame()
    tail = tail.drop("ckey", strict=False).with_columns(pl.col("client_id", "ip", "user_agent").cast(pl.String))
    partials = combine_clients(_client_partials(carry, redirecting), tail)
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
    needed = ["_rid", "seq", "client_id", "client_ip", "user_agent", "ts", "start", "role", "status", "method", "duration_s", "scheme",
              "source", *MCP_HEADERS]  # fmt: skip
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
    rows = rows.with_columns(client_columns(rows))
    # The client partials of the folded requests, their schemes as logged (see _client_partials).
    new = (
        rows.group_by("client_id", maintain_order=True)
        .agg(
            *client_partial(scheme),
            pl.when(ep).then(pl.col("ts")).min().alias("ep_first_seen"),
            pl.when(ep).then(pl.col("ts")).max().alias("ep_last_seen"),
        )
        .with_columns(pl.col("ip", "user_agent").cast(pl.String))
    )
    unlogged = rows.filter(scheme.is_null()).select("client_id", source.alias("_all_unlogged"), flow.alias("_flow")).unique()
    lists = {
        "paths": rows.filter(flow).select("client_id", pl.col("path").cast(pl.String).alias("paths")),
        "_all_unlogged": unlogged.select("client_id", "_all_unlogged"),
        "_flow_unlogged": unlogged.filter("_flow").select("client_id", pl.col("_all_unlogged").alias("_flow_unlogged")),
    }
    for name, values in lists.items():
        new = new.join(_lists(values, name), on="client_id", how="left", maintain_order="left")
    new = new.with_columns(pl.col(list(lists)).fill_null(pl.lit([], pl.List(pl.String))))
    summed = combine_clients(old.select(new.columns), new, {"_all_unlogged": None, "_flow_unlogged": None})
    # Attempts: the carried open one (under the number of the retained attempt that continued it, if one did)
    # and the new ones; the latest is the open one, the others are over.
    continued = flows.attempts.filter(pl.col("continued")).select(pl.col("client_id").cast(pl.String), pl.col("attempt").cast(pl.Int64))
    open_old = old.filter(pl.col("o_start").is_not_null()).join(continued, on="client_id", how="left").select(
        "client_id", pl.col("attempt").fill_null(-1).alias("key"), pl.lit(0).alias("part"),
        *[pl.col(_open(c)).alias(c) for c in OPEN_ATTEMPT], pl.lit(None, pl.UInt32).alias("first_seq"),
    )  # fmt: skip
    in_flow = rows.filter(flow).sort("start", maintain_order=True)
    open_new = in_flow.group_by("client_id", pl.col("attempt").cast(pl.Int64).alias("key")).agg(
        pl.lit(1).alias("part"),
        *attempt_partial(scheme),
        source.first().alias("first_source"),
        source.filter(scheme.is_null()).unique().alias("unlogged"),
    )
    att = (
        pl.concat([open_old, open_new.select(open_old.columns)], how="vertical_relaxed")
        .sort("client_id", "key", "part")
        .group_by("client_id", "key", maintain_order=True)
        .agg(
            *combine_attempts(),
            pl.col("first_source").first(),
            pl.col("unlogged").explode().drop_nulls().unique(),
        )
    )
    latest = pl.col("key") == pl.col("key").max().over("client_id")
    over = att.filter(~latest).group_by("client_id").agg(pl.len().alias("_closed"), pl.col("end").max().alias("_closed_end"))
    opened = att.filter(latest).select("client_id", *[pl.col(c).alias(_open(c)) for c in OPEN_ATTEMPT])
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
