"""The sessionizer: clients, attempts and outcomes, rebuilt from the canonical frame.

Definitions are those of docs/model.md. Everything is computed over whole columns:
group-bys, sorts of integer keys, and each request's link to its client's next and previous request
(`next_seq`, `prev_seq`, row numbers) for "what did the client do next". The only Python loop is over
distinct (IP, User-Agent) pairs, to give each client a stable short id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from ..ingest import Ingest
from ..schema import CANONICAL, CODED, CODED_COLUMNS, per_distinct
from .keys import _at_rows, _client_sequence, _with_client_ids, pair_key
from .options import FlowOptions, endpoint_rules, glob_regex
from .rules import (
    MAX_PATHS,
    MCP_HEADERS,
    attempt_counts,
    attempt_partial,
    client_columns,
    client_partial,
    continues_attempt,
    finish_attempts,
    finish_clients,
    inferred_https,
    sse_paths,
)
from .transport import (
    EVIDENCE,
    RedirectCounts,
    ServerTransport,
    inferred_redirects,
    location_path,
    redirect_candidates,
    redirecting_inputs,
    server_transport,
    transport_facts,
)

ROLE = pl.Enum(["endpoint", "auth", "other"])  # what a request is for: the MCP endpoint, auth/discovery, anything else


@dataclass
class Flows:
    """Requests annotated with client and attempt, one row per attempt, one row per client."""

    requests: pl.DataFrame
    attempts: pl.DataFrame
    clients: pl.DataFrame
    server: ServerTransport
    options: FlowOptions
    partials: pl.DataFrame | None = None  # client_partials of the requests (logscope watch adds to them)


def forwarded_client() -> pl.Expr:
    """The original client behind proxies: the first address of X-Forwarded-For (Caddy already logs the
    one its trusted_proxies resolved), else the peer. Only as trustworthy as the proxies that set it."""
    first = pl.col("forwarded_for").str.split(",").list.first().str.strip_chars()
    return pl.coalesce(pl.when(first != "").then(first), pl.col("client_ip").cast(pl.String)).cast(CANONICAL["client_ip"])


def _coded(requests: pl.DataFrame) -> pl.DataFrame:
    """The canonical types for the columns flows read as codes (frames built by hand may hold strings)."""
    return requests.with_columns(pl.col(c).cast(CODED) for c in CODED_COLUMNS if requests.schema[c] != CODED)


def _time_is_end_sources(ingest: Ingest) -> list[str]:
    return [r.path for r in ingest.inputs if r.format_detail.get("time_is", "end") == "end"]


def neighbours(rows: pl.DataFrame, requests: pl.DataFrame, which: str, columns: Sequence[str]) -> pl.DataFrame:
    """`rows` (annotated requests) with the same client's next (`which="next"`) or previous request's
    `columns` added as `next_<column>` / `prev_<column>`; null where there is none. Filter first: this
    looks up only the rows given."""
    index = rows[f"{which}_seq"]
    return rows.with_columns(requests[c].gather(index).alias(f"{which}_{c}") for c in columns)


def _linked(ingest: Ingest, options: FlowOptions) -> pl.DataFrame:
    """The requests with row number `seq`, client, role, start, and each one's client's next and previous."""
    rules = endpoint_rules()
    requests = ingest.requests
    if options.trust_forwarded:
        requests = requests.with_columns(forwarded_client().alias("client_ip"))
    requests = _coded(requests)

    def role_of(paths: pl.Series) -> pl.Series:
        role = (
            pl.when(pl.col("path").str.contains(glob_regex(rules["auth"])))
            .then(pl.lit("auth"))
            .when(pl.col("path").str.contains(glob_regex(options.endpoint_globs)))
            .then(pl.lit("endpoint"))
            .otherwise(pl.lit("other"))
        )
        return paths.to_frame("path").select(role.cast(ROLE)).to_series()

    benign = pl.any_horizontal([(pl.col("method") == b["method"]) & (pl.col("status") == b["status"]) for b in rules["benign"]])
    base = _with_client_ids(requests.with_row_index("seq"))
    linked = base.with_columns(
        per_distinct(requests["path"], role_of).alias("role"),
        benign.fill_null(False).alias("benign"),
        _start(requests, _time_is_end_sources(ingest)).alias("start"),
        *_client_sequence(base["ckey"]),
    )
    return _within_clock_jitter(linked, ingest)


def _within_clock_jitter(df: pl.DataFrame, ingest: Ingest) -> pl.DataFrame:
    """Where a log's clocks disagree by a few milliseconds (HAProxy's threads), a client's request logged after
    another but starting up to that much before it starts with it instead, so that it keeps its place in the log
    (the redirect before the request that followed it). A stream that opened long before stays where it opened."""
    jitter = {r.path: float(r.format_detail.get("clock_jitter_ms") or 0) for r in ingest.inputs}
    if not any(jitter.values()):
        return df
    window = pl.col("source").cast(pl.String).replace_strict(jitter, default=0.0, return_dtype=pl.Float64)
    before = pl.col("start").cum_max().shift(1).over("ckey")  # the latest start of the client's requests logged before
    behind_us = (before - pl.col("start")).dt.total_microseconds()
    slightly = (behind_us > 0) & (behind_us <= window * 1000)
    return df.with_columns(pl.when(slightly.fill_null(False)).then(before).otherwise(pl.col("start")).alias("start"))


def _start(requests: pl.DataFrame, time_is_end: list[str]) -> pl.Expr:
    """When each request started, as far as the log can tell: its time, less its duration where the
    server stamps a line when the request ends (nginx, Caddy), so a long SSE stream sits where it
    opened. A log stamped in whole seconds keeps its own order within a second: only the duration's
    whole seconds are taken off, so a redirect and its follow-up written in the same second stay in the
    order they were written, whatever their durations (the spec's ordering rule; the lab's nginx logs
    with $request_time showed the follow-up placed first otherwise)."""
    if requests["duration_s"].null_count() == requests.height:
        return pl.col("ts")  # no durations logged: the same column, not a copy
    whole = requests.group_by("source").agg((pl.col("ts").dt.microsecond() == 0).all().alias("whole")).filter("whole")["source"]
    ends = pl.col("source").is_in(time_is_end) & pl.col("duration_s").is_not_null()
    seconds = pl.when(pl.col("source").is_in(whole.implode())).then(pl.col("duration_s").floor()).otherwise(pl.col("duration_s"))
    return pl.when(ends).then(pl.col("ts") - pl.duration(microseconds=(seconds * 1e6).cast(pl.Int64))).otherwise(pl.col("ts"))


def annotate(ingest: Ingest, options: FlowOptions, redirecting: Mapping[str, Sequence[int]] | None = None) -> pl.DataFrame:
    """Add client_id, role, the client's next and previous request, effective scheme (logged or inferred)
    and the start of each request.

    `redirecting` names the inputs whose server is known to redirect plain HTTP, with its codes
    (`redirecting_inputs` of all shards' `inferred_redirects`); by default it is read from these requests.
    """
    base = _linked(ingest, options)
    candidates = redirect_candidates(base, options)
    if redirecting is None:
        redirecting = redirecting_inputs(inferred_redirects(candidates))
    sources = pl.Series(list(redirecting), dtype=CODED).implode()
    # A logged scheme is evidence itself; an unlogged one only where the pattern recurs.
    confirmed = pl.col("candidate") & (pl.col("scheme").is_not_null() | pl.col("source").is_in(sources))
    to_https = candidates.filter(confirmed)
    http_to_https = pl.repeat(False, base.height, eager=True).scatter(to_https["seq"], True).alias("http_to_https")
    # Where the scheme is not logged: a request redirected to HTTPS was plain HTTP; if the log shows
    # such redirects, the server redirects all plain HTTP, so requests that were not redirected were HTTPS.
    # An MCP or auth request answered with that same redirect and never followed was plain HTTP too (a client
    # that never follows is http-only): the server's code, to the same path where the Location is logged.
    # Only for those: on the rest of a website a 301 is as often a moved page or a trailing slash.
    same_redirect = (
        (pl.col("role") != "other")
        & pl.any_horizontal(
            [pl.lit(False)] + [(pl.col("source") == s) & pl.col("status").is_in(list(codes)) for s, codes in redirecting.items()]
        )
        & (pl.col("location").is_null() | (pl.col("location").str.starts_with("https://") & (location_path() == pl.col("path"))))
    )
    inferred = (
        pl.when(pl.col("http_to_https") | same_redirect)
        .then(pl.lit("http", CODED))
        .when(inferred_https(pl.col("source"), sources))
        .then(pl.lit("https", CODED))
    )
    return base.with_columns(http_to_https).with_columns(
        pl.coalesce(pl.col("scheme"), pl.when(pl.col("scheme").is_null()).then(inferred)).alias("scheme_eff"),
        pl.when(pl.col("scheme").is_not_null())
        .then(pl.lit("logged"))
        .when(pl.col("scheme").is_null() & inferred.is_not_null())
        .then(pl.lit("inferred"))
        .cast(EVIDENCE)
        .alias("scheme_evidence"),
    )


def redirect_counts(ingest: Ingest, options: FlowOptions) -> RedirectCounts:
    """`inferred_redirects` of these requests (the first pass over a shard)."""
    return inferred_redirects(redirect_candidates(_linked(ingest, options), options))


def _attempts(df: pl.DataFrame, options: FlowOptions) -> tuple[list[pl.Series], pl.DataFrame]:
    """Number endpoint and auth/discovery requests into attempts: the request columns `attempt`,
    `prev_endpoint_status` and `prev_endpoint_seq`, and one row per attempt.

    `attempt` is one number across all clients, increasing in time within each client.
    """
    keys = df.select("seq", "ckey", "start").filter(df["role"] != "other")
    # Client, then start, then log order: two stable single-key sorts of the keys are cheaper than one
    # sort on three, and the rows are then gathered once.
    order = keys.with_row_index("i").sort("start", maintain_order=True).sort("ckey", maintain_order=True)["i"]
    columns = ("seq", "ckey", "client_id", "start", "ts", "role", "method", "status", "scheme_eff")
    flow = df.select(*columns, sse_paths(df))[keys["seq"].gather(order)]
    same_client = pl.col("ckey") == pl.col("ckey").shift(1)
    continues = same_client.fill_null(False) & continues_attempt(pl.col("start"), pl.col("start").shift(1), options.attempt_gap_s)
    # A running count of non-negative numbers never decreases: telling Polars so lets it group by runs.
    flow = flow.with_columns((~continues).cast(pl.UInt32).cum_sum().set_sorted().alias("attempt"))
    attempts = finish_attempts(
        flow.group_by("attempt", maintain_order=True).agg(pl.col("client_id").first(), *attempt_partial(pl.col("scheme_eff")))
    )
    is_ep = pl.col("role") == "endpoint"
    # The endpoint request before each one in the same attempt (session-lost reads it). Its status is read
    # at its row number afterwards: reading rows in random order is cheap, writing them is not. (Packing
    # this column with `attempt` into one scatter saved a tenth of a second at 10M rows but raised the
    # peak memory by 120-200 MB.)
    same_attempt = pl.col("attempt") == pl.col("attempt").shift(1)
    ep = flow.filter(is_ep).select("seq", pl.when(same_attempt).then(pl.col("seq").shift(1)).alias("prev_endpoint_seq"))
    previous = _at_rows(df.height, ep["seq"], ep["prev_endpoint_seq"])
    attempt = _at_rows(df.height, flow["seq"], flow["attempt"])
    return [attempt, df["status"].gather(previous).alias("prev_endpoint_status"), previous], attempts


def build_flows(ingest: Ingest, options: FlowOptions | None = None, redirecting: Mapping[str, Sequence[int]] | None = None) -> Flows:
    """Clients, attempts and outcomes for everything `read_logs` returned (or one shard of it, with the
    `redirecting` inputs known from all shards)."""
    options = options or FlowOptions()
    df = annotate(ingest, options, redirecting)
    per_request, attempts = _attempts(df, options)
    df = df.with_columns(per_request)
    partials = _client_partials(df)
    clients = finish_clients(partials, attempt_counts(attempts), options)
    server = server_transport([transport_facts(df)])
    return Flows(requests=df, attempts=attempts, clients=clients, server=server, options=options, partials=partials)


def _client_partials(df: pl.DataFrame) -> pl.DataFrame:
    """One client partial per client of the annotated requests, and its MCP and auth paths in the order
    first requested (at most MAX_PATHS)."""
    narrow = ("ckey", "client_id", "client_ip", "user_agent", "ts", "role", "method", "status", "scheme", "scheme_eff")
    headers = [pl.col(c) if c in df.columns else pl.lit(None, CANONICAL[c]).alias(c) for c in MCP_HEADERS]
    base = (
        df.select(*narrow, *headers)
        .with_columns(client_columns(df))
        .group_by("ckey")
        .agg(pl.col("client_id").first(), *client_partial(pl.col("scheme_eff")))
    )
    # Distinct (client, path) pairs first: few.
    pair = pair_key(pl.col("ckey"), pl.col("path").to_physical())
    paths = (
        df.select("ckey", "path")
        .filter(df["role"] != "other")
        .filter(pair.is_first_distinct())
        .group_by("ckey", maintain_order=True)
        .agg(pl.col("path").head(MAX_PATHS).alias("paths"))
    )
    return base.join(paths, on="ckey", how="left").with_columns(
        pl.col("paths").cast(pl.List(pl.String)).fill_null(pl.lit([], pl.List(pl.String)))
    )
