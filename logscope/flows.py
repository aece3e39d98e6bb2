"""The sessionizer: clients, attempts and outcomes, rebuilt from the canonical frame.

Definitions are those of docs/model.md. Everything is computed over whole columns:
group-bys, sorts of integer keys, and each request's link to its client's next and previous request
(`next_seq`, `prev_seq`, row numbers) for "what did the client do next". The only Python loop is over
distinct (IP, User-Agent) pairs, to give each client a stable short id.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import polars as pl
import polars.selectors as cs

from .choices import ATTEMPT_GAP_S, STUCK_AFTER
from .errors import LogscopeError
from .ingest import Ingest
from .schema import CANONICAL, CODED, CODED_COLUMNS, per_distinct

REDIRECTS = [301, 302, 303, 307, 308]
ROLE = pl.Enum(["endpoint", "auth", "other"])  # what a request is for: the MCP endpoint, auth/discovery, anything else
EVIDENCE = pl.Enum(["logged", "inferred"])  # how a request's scheme is known
MIN_INFERRED_REDIRECTS = 3
SSE_PATH = r"(^|/)sse/?$"  # the legacy HTTP+SSE transport's stream
STATELESS_REVISION = "2026-07-28"  # MCP's stateless revision: server/discover, no Mcp-Session-Id
MCP_HEADERS = ("mcp_method", "mcp_protocol_version", "mcp_session")  # canonical columns, where the log has them


@cache
def endpoint_rules() -> dict[str, Any]:
    return tomllib.loads(resources.files("logscope.data").joinpath("endpoints.toml").read_text("utf-8"))


@dataclass(frozen=True)
class FlowOptions:
    attempt_gap_s: float = ATTEMPT_GAP_S
    stuck_after: int = STUCK_AFTER
    endpoints: tuple[str, ...] = ()  # globs; empty means the defaults in data/endpoints.toml
    follow_window_s: float = 5.0  # a redirect followed to the same path within this was HTTP -> HTTPS
    trust_forwarded: bool = False  # the client is X-Forwarded-For's first address / Caddy's client_ip

    def __post_init__(self) -> None:
        # NaN compares false with everything, and infinity is no gap: both are refused here, once for every command.
        if not (math.isfinite(self.attempt_gap_s) and self.attempt_gap_s > 0):
            raise LogscopeError(f"--attempt-gap takes a number of seconds above 0, not {self.attempt_gap_s}")
        if self.stuck_after < 1:
            raise LogscopeError(f"--stuck-after takes a number of failed attempts, 1 or more, not {self.stuck_after}")
        if not (math.isfinite(self.follow_window_s) and self.follow_window_s >= 0):
            raise LogscopeError(f"the follow window takes a number of seconds, not {self.follow_window_s}")

    @property
    def endpoint_globs(self) -> tuple[str, ...]:
        return self.endpoints or tuple(endpoint_rules()["endpoint"])


@dataclass
class ServerTransport:
    """Does the server redirect plain HTTP, with which codes, for which methods, and how we know."""

    redirects_http: bool | None  # None: the log cannot tell
    evidence: str  # "logged" | "inferred" | "none"
    status_codes: dict[int, int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)
    by_edge: int = 0  # of those redirects, how many the edge in front of the server sent itself (where its log says)

    def to_json(self) -> dict[str, Any]:
        return {
            "redirects_http": self.redirects_http,
            "evidence": self.evidence,
            "status_codes": {str(k): v for k, v in sorted(self.status_codes.items())},
            "methods": dict(sorted(self.methods.items())),
            "sent_by_edge": self.by_edge,
        }


@dataclass
class Flows:
    """Requests annotated with client and attempt, one row per attempt, one row per client."""

    requests: pl.DataFrame
    attempts: pl.DataFrame
    clients: pl.DataFrame
    server: ServerTransport
    options: FlowOptions
    partials: pl.DataFrame | None = None  # client_partials of the requests (logscope watch adds to them)


def glob_regex(globs: Sequence[str]) -> str:
    """One anchored regex for path globs, where `*` matches anything (slashes included)."""
    parts = [".*".join(re.escape(piece) for piece in g.split("*")) for g in globs]
    return "^(?:" + "|".join(parts) + ")$"


@lru_cache(maxsize=1 << 18)  # `logscope watch` names the same clients batch after batch
def client_id(ip: str | None, user_agent: str | None) -> str:
    """A short id, stable across runs and versions, for one (IP, User-Agent) pair."""
    key = f"{ip or ''}\x00{'' if user_agent is None else user_agent}\x00{user_agent is None}"
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=5).hexdigest()


def forwarded_client() -> pl.Expr:
    """The original client behind proxies: the first address of X-Forwarded-For (Caddy already logs the
    one its trusted_proxies resolved), else the peer. Only as trustworthy as the proxies that set it."""
    first = pl.col("forwarded_for").str.split(",").list.first().str.strip_chars()
    return pl.coalesce(pl.when(first != "").then(first), pl.col("client_ip").cast(pl.String)).cast(CANONICAL["client_ip"])


#: A client's two codes packed in one 64-bit integer need codes below this (codes + 1, null as 0).
_PACKABLE = 2**32 - 1
PAIR_BASE = 2**32  # pair_key(high, low) // PAIR_BASE == high


def pair_key(high: pl.Expr, low: pl.Expr) -> pl.Expr:
    """Two 32-bit integers as one 64-bit key: grouping or deduplicating one integer column is much cheaper
    than two. `// PAIR_BASE` gives `high` back."""
    return high.cast(pl.UInt64) * PAIR_BASE + low.cast(pl.UInt64)


def _client_keys(requests: pl.DataFrame) -> pl.Series:
    """A dense integer per (IP, User-Agent) pair, numbered in order of first appearance.

    Both columns are coded, so a pair is two integers, packed into one (exact: null is its own value)
    and numbered by a group-by of the packed keys; codes too large to pack take a two-column join.
    """
    codes = requests.select(pl.col("client_ip").to_physical().alias("ip"), pl.col("user_agent").to_physical().alias("ua"))
    if max(codes["ip"].max() or 0, codes["ua"].max() or 0) >= _PACKABLE - 1:  # type: ignore[operator]
        return _client_keys_joined(codes)
    shifted = [(pl.col(c).cast(pl.UInt64) + 1).fill_null(0) for c in ("ip", "ua")]  # null is 0, its own value
    packed = codes.select(pair_key(*shifted).alias("pair"))["pair"]
    first = packed.to_frame().with_row_index("seq").group_by("pair").agg(pl.col("seq").min()).sort("seq").with_row_index("ckey")
    return packed.replace_strict(first["pair"], first["ckey"], return_dtype=pl.UInt32).alias("ckey")


def _client_keys_joined(codes: pl.DataFrame) -> pl.Series:
    """`_client_keys` for any codes: the pairs numbered in order of first appearance, joined back."""
    pairs = codes.with_row_index("seq").group_by("ip", "ua").agg(pl.col("seq").min()).sort("seq").with_row_index("ckey").drop("seq")
    return codes.join(pairs, on=["ip", "ua"], how="left", nulls_equal=True, maintain_order="left")["ckey"]


def _with_client_ids(requests: pl.DataFrame) -> pl.DataFrame:
    """Add `client_id` (stable, for reports) and `ckey` (a dense integer, for fast grouping)."""
    ckey = _client_keys(requests)
    first = ckey.arg_unique()  # the first row of each ckey, in ckey order
    pairs = requests.select(pl.col("client_ip").gather(first), pl.col("user_agent").gather(first))
    # Built as strings, then coded: faster than coding while building from Python.
    ids = pl.Series("client_id", list(map(client_id, pairs["client_ip"].to_list(), pairs["user_agent"].to_list())), pl.String)
    ids = ids.cast(CODED)
    return requests.with_columns(ckey, ids.gather(ckey))


def _coded(requests: pl.DataFrame) -> pl.DataFrame:
    """The canonical types for the columns flows read as codes (frames built by hand may hold strings)."""
    return requests.with_columns(pl.col(c).cast(CODED) for c in CODED_COLUMNS if requests.schema[c] != CODED)


def _time_is_end_sources(ingest: Ingest) -> list[str]:
    return [r.path for r in ingest.inputs if r.format_detail.get("time_is", "end") == "end"]


def _client_sequence(ckey: pl.Series) -> tuple[pl.Series, pl.Series]:
    """For each request, the row number of the same client's next and previous request (null at either end).

    Requests are in time order (ties in input order), so a stable sort by client lists each client's
    requests in order; only the two integer columns are sorted.
    """
    ordered = ckey.to_frame("ckey").with_row_index("seq").sort("ckey", maintain_order=True)
    same_next = pl.col("ckey").shift(-1) == pl.col("ckey")
    same_prev = pl.col("ckey").shift(1) == pl.col("ckey")
    links = ordered.select(
        "seq",
        pl.when(same_next).then(pl.col("seq").shift(-1)).alias("next_seq"),
        pl.when(same_prev).then(pl.col("seq").shift(1)).alias("prev_seq"),
    )
    return _pair_at_rows(ckey.len(), links["seq"], links["next_seq"], links["prev_seq"])


def neighbours(rows: pl.DataFrame, requests: pl.DataFrame, which: str, columns: Sequence[str]) -> pl.DataFrame:
    """`rows` (annotated requests) with the same client's next (`which="next"`) or previous request's
    `columns` added as `next_<column>` / `prev_<column>`; null where there is none. Filter first: this
    looks up only the rows given."""
    index = rows[f"{which}_seq"]
    return rows.with_columns(requests[c].gather(index).alias(f"{which}_{c}") for c in columns)


def location_path() -> pl.Expr:
    """The path a redirect's Location points to (scheme, host, query and fragment removed), coded like `path`."""
    return pl.col("location").str.replace(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "").str.replace(r"[?#].*$", "").cast(CODED)


def redirect_candidates(base: pl.DataFrame, options: FlowOptions) -> pl.DataFrame:
    """`seq`, `scheme`, `source` and `candidate` of the plain-HTTP (or unlogged-scheme) redirects, where
    `candidate` says the client followed it to HTTPS.

    Only redirects are examined; what the client did next is looked up by its next-request row numbers.
    """
    path, ts = pl.col("path"), pl.col("ts")
    redirects = base.filter(pl.col("status").is_in(REDIRECTS) & (pl.col("scheme").is_null() | (pl.col("scheme") == "http"))).select(
        "seq", "ts", "method", "path", "role", "location", "scheme", "source", "status", "next_seq"
    )
    # Browsers fetch other things in between, so look a few requests ahead.
    later = [redirects["next_seq"]]
    for _ in range(2):
        later.append(base["next_seq"].gather(later[-1]))
    redirects = redirects.with_columns(
        c
        for k, index in enumerate(later, 1)
        for c in (
            base["path"].gather(index).alias(f"_path{k}"),
            base["ts"].gather(index).alias(f"_ts{k}"),
            base["status"].gather(index).alias(f"_status{k}"),
        )
    )
    # A follow-up that is redirected again is the same request retried, not the redirect followed: had it
    # gone to HTTPS, the server would not have redirected it to HTTPS (the SDKs, which do not follow a
    # 301, send their next POST to the same http:// URL and get the same 301).
    followed_same = pl.any_horizontal(
        [
            (pl.col(f"_path{k}") == path)
            & ((pl.col(f"_ts{k}") - ts).dt.total_seconds() <= options.follow_window_s)
            & ~pl.col(f"_status{k}").is_in(REDIRECTS)
            for k in (1, 2, 3)
        ]
    ).fill_null(False)
    # Without a Location, a POST redirected and re-requested on the same path is also what a web form's
    # Post/Redirect/Get to itself looks like; it counts as HTTP -> HTTPS evidence on MCP endpoints only.
    plain_follow = followed_same & (pl.col("method").is_in(["GET", "HEAD"]) | (pl.col("role") == "endpoint"))
    to_https = (
        pl.when(pl.col("location").is_not_null())
        .then(pl.col("location").str.starts_with("https://") & (location_path() == path))
        .otherwise(plain_follow)
    )
    return redirects.select("seq", "scheme", "source", "status", to_https.fill_null(False).alias("candidate"))


RedirectCounts = dict[tuple[str, int], int]  # (input, status) -> redirects followed to HTTPS, scheme unlogged


def inferred_redirect_rows(candidates: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """Per `by`, input and status code, how many redirects of requests with no logged scheme look like
    HTTP -> HTTPS (`n`): the counts that add up across shards, or the addresses of `logscope watch`."""
    unlogged = candidates.filter(pl.col("candidate") & pl.col("scheme").is_null())
    return unlogged.group_by(*by, pl.col("source").cast(pl.String), "status").agg(pl.len().cast(pl.Int64).alias("n"))


def inferred_redirects(candidates: pl.DataFrame) -> RedirectCounts:
    """Per input and status code, how many redirects of requests with no logged scheme look like HTTP -> HTTPS."""
    return {(str(k), int(s)): int(v) for k, s, v in inferred_redirect_rows(candidates).iter_rows()}


def redirecting_inputs(counts: RedirectCounts) -> dict[str, list[int]]:
    """The inputs whose server redirects plain HTTP, with the codes it does it with, known only from what
    clients did: without a logged scheme the pattern is only evidence when it recurs (one client
    re-requesting a path after a 301 proves little; a server that redirects plain HTTP shows it again
    and again)."""
    totals: dict[str, int] = {}
    for (source, _), n in counts.items():
        totals[source] = totals.get(source, 0) + n
    return {
        source: sorted(status for (s, status) in counts if s == source)
        for source in sorted(totals)
        if totals[source] >= MIN_INFERRED_REDIRECTS
    }


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
        .when(pl.col("source").is_in(sources))
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


def _at_rows(height: int, seq: pl.Series, values: pl.Series) -> pl.Series:
    """A column of `height` rows holding `values` at row numbers `seq`, null elsewhere (no join needed)."""
    return pl.repeat(None, height, dtype=values.dtype, eager=True).scatter(seq, values).alias(values.name)


_NO_VALUE = PAIR_BASE - 1  # null, in one half of a packed pair: row numbers (UInt32) stay below it


def _pair_at_rows(height: int, seq: pl.Series, first: pl.Series, second: pl.Series) -> tuple[pl.Series, pl.Series]:
    """`_at_rows` of two row numbers (UInt32) at the same rows, in one scatter: writing to rows in random
    order is bound by memory, so the two go packed in one 64-bit integer (null as _NO_VALUE)."""
    halves = [s.cast(pl.UInt64).fill_null(_NO_VALUE) for s in (first, second)]
    empty = pl.repeat(_NO_VALUE * PAIR_BASE + _NO_VALUE, height, dtype=pl.UInt64, eager=True)
    placed = empty.scatter(seq, halves[0] * PAIR_BASE + halves[1]).to_frame("pair")
    out = placed.select((pl.col("pair") // PAIR_BASE).alias(first.name), (pl.col("pair") % PAIR_BASE).alias(second.name)).select(
        pl.when(pl.col(s.name) != _NO_VALUE).then(pl.col(s.name)).cast(s.dtype) for s in (first, second)
    )
    return out[first.name], out[second.name]


def sse_paths(df: pl.DataFrame) -> pl.Series:
    """`_sse`: whether each request's path is the legacy transport's stream (once per distinct path)."""
    return per_distinct(df["path"], lambda p: p.str.contains(SSE_PATH)).fill_null(False).alias("_sse")


def discovery_probe(role: pl.Expr, method: pl.Expr, status: pl.Expr, sse: pl.Expr) -> pl.Expr:
    """Over one attempt's requests: is it a program checking whether the server asks for authorization, not
    connecting? OAuth discovery, endpoint requests that are all GETs outside the legacy SSE path, no POST,
    and no 401 (after a 401, discovery is part of connecting). mcp-remote 0.15.1 sends such an attempt under
    a second User-Agent (`node`: GET /mcp 400, then the .well-known documents, 404) before it connects as
    `undici` (measured in the lab). It is no connection attempt: neither successful nor failed."""
    endpoint = role == "endpoint"
    return (role == "auth").any() & endpoint.any() & (endpoint & ((method != "GET") | sse)).not_().all() & (status == 401).not_().all()


def counted() -> pl.Expr:
    """Over attempt rows: the attempts that count towards a client's outcome (flows, shards and watch alike)."""
    return (pl.col("endpoint_requests") > 0) & ~pl.col("probe")


def _attempts(df: pl.DataFrame, options: FlowOptions) -> tuple[list[pl.Series], pl.DataFrame]:
    """Number endpoint and auth/discovery requests into attempts: the request columns `attempt`,
    `prev_endpoint_status` and `prev_endpoint_seq`, and one row per attempt.

    `attempt` is one number across all clients, increasing in time within each client.
    """
    gap_us = int(options.attempt_gap_s * 1e6)
    keys = df.select("seq", "ckey", "start").filter(df["role"] != "other")
    sse = sse_paths(df)
    # Client, then start, then log order: two stable single-key sorts of the keys are cheaper than one
    # sort on three, and the rows are then gathered once.
    order = keys.with_row_index("i").sort("start", maintain_order=True).sort("ckey", maintain_order=True)["i"]
    flow = df.select("seq", "ckey", "client_id", "start", "ts", "role", "method", "status", "scheme_eff", sse)[keys["seq"].gather(order)]
    same_client = pl.col("ckey") == pl.col("ckey").shift(1)
    new = ~same_client.fill_null(False) | ((pl.col("start") - pl.col("start").shift(1)).dt.total_microseconds() > gap_us)
    # A running count of non-negative numbers never decreases: telling Polars so lets it group by runs.
    flow = flow.with_columns(new.cast(pl.UInt32).cum_sum().set_sorted().alias("attempt"))
    is_ep = pl.col("role") == "endpoint"
    # The spec's rule: the last POST to the endpoint decides; a DELETE teardown or a GET stream never does
    # (real SDK clients tear down with DELETE 200 after failing, and a stream is logged when it closes).
    # Only an attempt without a POST is decided by its last endpoint request.
    deciding = pl.coalesce(
        pl.col("status").filter(is_ep & (pl.col("method") == "POST")).last(),
        pl.col("status").filter(is_ep).last(),
    )
    attempts = flow.group_by("attempt", maintain_order=True).agg(
        pl.col("client_id").first(),
        pl.col("start").first().alias("start"),
        pl.col("ts").max().alias("end"),
        pl.len().alias("requests"),
        is_ep.sum().alias("endpoint_requests"),
        deciding.alias("deciding_status"),
        (is_ep & (pl.col("method") == "POST")).any().alias("posted"),  # decided by a POST (logscope watch reads it)
        pl.col("scheme_eff").first().alias("first_scheme"),
        (pl.col("scheme_eff") == "https").any().alias("reached_https"),
        pl.col("seq").first().alias("first_seq"),
        discovery_probe(pl.col("role"), pl.col("method"), pl.col("status"), pl.col("_sse")).alias("probe"),
    )
    attempts = attempts.with_columns(
        counted().alias("counted"),
        pl.col("deciding_status").is_between(200, 299).fill_null(False).alias("success"),
    )
    # The endpoint request before each one in the same attempt (session-lost reads it). Its status is read
    # at its row number afterwards: reading rows in random order is cheap, writing them is not. (Packing
    # this column with `attempt` into one scatter saved a tenth of a second at 10M rows but raised the
    # peak memory by 120-200 MB.)
    same_attempt = pl.col("attempt") == pl.col("attempt").shift(1)
    ep = flow.filter(is_ep).select("seq", pl.when(same_attempt).then(pl.col("seq").shift(1)).alias("prev_endpoint_seq"))
    previous = _at_rows(df.height, ep["seq"], ep["prev_endpoint_seq"])
    attempt = _at_rows(df.height, flow["seq"], flow["attempt"])
    return [attempt, df["status"].gather(previous).alias("prev_endpoint_status"), previous], attempts


def mcp_transport_flags(df: pl.DataFrame) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """How a client speaks MCP, read from its endpoint requests, and whether it tears down with DELETE:
    the columns to add to the requests and the per-client aggregations (for the clients' group-by)."""
    ep = pl.col("role") == "endpoint"
    ok = pl.col("status").is_between(200, 299)
    get, post = pl.col("method") == "GET", pl.col("method") == "POST"
    sse_path, messages_path = pl.col("_sse"), pl.col("_messages_path")
    columns = [
        sse_paths(df),
        per_distinct(df["path"], lambda p: p.str.contains(r"(^|/)messages?(/|$)")).alias("_messages_path").fill_null(False),
    ]
    aggregations = [
        (ep & get & sse_path & ok).any().alias("_legacy_stream"),
        (ep & post & messages_path).any().alias("_messages"),
        (ep & get & ~sse_path & ok).any().alias("_stream"),
        (ep & post & ~messages_path).any().alias("_post"),
        (ep & (pl.col("method") == "DELETE")).any().alias("teardown"),
        # Stateless or in a session (mcp_session_rule): the headers where logged, else what the session
        # handshake leaves, a notification accepted with 202 (notifications/initialized).
        (ep & pl.col("mcp_session").fill_null(False)).any().alias("_sent_session"),
        (
            ep
            & (
                (pl.col("mcp_method").cast(pl.String) == "server/discover")
                | (pl.col("mcp_protocol_version").cast(pl.String) >= STATELESS_REVISION)
            ).fill_null(False)
        )
        .any()
        .alias("_sent_stateless"),
        (ep & post & ~messages_path & (pl.col("status") == 202)).any().alias("_notified"),
    ]
    return columns, aggregations


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


MAX_PATHS = 20  # per client in reports: one abusive client must not blow up a report
STATUS_CLASSES = (2, 3, 4, 5)  # endpoint answers counted per client: 2xx .. 5xx


#: The per-client aggregates that add up over any parts of a client's requests (`client_partials`): sums,
#: earliest, latest, any. `logscope watch` keeps them for requests it no longer holds.
SUMMED = ("requests", "endpoint_requests", *[f"endpoint_{k}xx" for k in STATUS_CLASSES])
TRANSPORT_FLAGS = ("_legacy_stream", "_messages", "_stream", "_post", "teardown", "_sent_session", "_sent_stateless", "_notified")


def client_partials(df: pl.DataFrame) -> pl.DataFrame:
    """One row per client of the annotated requests: what `finish_clients` reads, all of it adding up over
    parts of a client's requests (SUMMED, first/last seen, the flags, the first MAX_PATHS paths)."""
    flow_rows = pl.col("_flow")
    http, https = pl.col("scheme_eff") == "http", pl.col("scheme_eff") == "https"
    logged, inferred = pl.col("scheme_evidence") == "logged", pl.col("scheme_evidence") == "inferred"
    # Plain sums and any() over narrow columns: Polars' fast aggregation path, no per-group expressions.
    transport_columns, transport_aggregations = mcp_transport_flags(df)
    base = (
        df.select(
            "ckey",
            "client_id",
            "client_ip",
            "user_agent",
            "ts",
            "role",
            "method",
            "status",
            "scheme_eff",
            "scheme_evidence",
            *[pl.col(c) if c in df.columns else pl.lit(None, CANONICAL[c]).alias(c) for c in MCP_HEADERS],
        )
        .with_columns((pl.col("role") != "other").alias("_flow"), *transport_columns)
        .group_by("ckey")
        .agg(
            pl.col("client_id").first(),
            pl.col("client_ip").first().alias("ip"),
            pl.col("user_agent").first(),
            pl.len().alias("requests"),
            pl.col("ts").min().alias("first_seen"),
            pl.col("ts").max().alias("last_seen"),
            (pl.col("role") == "endpoint").sum().alias("endpoint_requests"),
            # Endpoint answers by status class, for the report's chart (no second pass over the requests).
            *[((pl.col("role") == "endpoint") & (pl.col("status") // 100 == k)).sum().alias(f"endpoint_{k}xx") for k in STATUS_CLASSES],
            flow_rows.any().alias("_has_flow"),
            *[
                (flow_rows & cond).any().alias(f"_flow{name}")
                for name, cond in (("_http", http), ("_https", https), ("_logged", logged), ("_inferred", inferred))
            ],
            *[
                cond.any().alias(f"_all{name}")
                for name, cond in (("_http", http), ("_https", https), ("_logged", logged), ("_inferred", inferred))
            ],
            *transport_aggregations,
        )
    )
    # The client's MCP and auth paths in the order first requested (distinct pairs first: few).
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
    """The clients table from `client_partials` and `attempt_counts`: outcome, transport, evidence."""
    # Transport is read from the client's MCP requests where it has any, else from all it sent.
    base = partials.with_columns(
        pl.when(pl.col("_has_flow")).then(pl.col(f"_flow{name}")).otherwise(pl.col(f"_all{name}")).alias(name)
        for name in ("_http", "_https", "_logged", "_inferred")
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
            "_sent_session",
            "_sent_stateless",
            "_notified",
            "_has_flow",
            cs.starts_with("_flow_", "_all_", "_http", "_https", "_logged", "_inferred"),
            "_legacy_stream",
            "_messages",
            "_stream",
            "_post",
        )
        .drop("ckey", strict=False)
        # One row per client: plain strings, so the table joins and compares like any other.
        .with_columns(pl.col("client_id", "ip", "user_agent").cast(pl.String))
        .sort("first_seen", "client_id")
    )


def transport_fact_rows(df: pl.DataFrame, by: Sequence[str] = ()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the annotated requests show of the server's plain-HTTP redirect, per `by` (or in all): counts
    that add up across shards and addresses, and the redirected requests counted by status and method."""
    redirected = pl.col("http_to_https")
    scalars = [
        redirected.sum().alias("redirected"),
        (redirected & pl.col("scheme").is_null()).sum().alias("redirected_unlogged"),
        pl.col("scheme").is_not_null().any().alias("scheme_logged"),
        (pl.col("scheme") == "http").sum().alias("plain"),
    ]
    if "answered_by" in df.columns:
        scalars.append((redirected & (pl.col("answered_by") == "edge")).sum().alias("redirected_by_edge"))
    counts = df.group_by(*by).agg(scalars) if by else df.select(scalars)
    hops = df.filter(redirected).group_by(*by, "status", pl.col("method").cast(pl.String)).len()
    return counts, hops


def facts_from_rows(counts: pl.DataFrame, hops: pl.DataFrame) -> dict[str, Any]:
    """`transport_fact_rows` of any number of parts, as the one dict `server_transport` reads."""
    return {
        "redirected": int(counts["redirected"].sum()),
        "redirected_unlogged": int(counts["redirected_unlogged"].sum()),
        "status_codes": {int(k): int(v) for k, v in hops.group_by("status").agg(pl.col("len").sum()).iter_rows()},
        "methods": {str(k): int(v) for k, v in hops.group_by("method").agg(pl.col("len").sum()).iter_rows()},
        "scheme_logged": bool(counts["scheme_logged"].any()),
        "plain": int(counts["plain"].sum()),
        "redirected_by_edge": int(counts["redirected_by_edge"].sum()) if "redirected_by_edge" in counts.columns else 0,
    }


def transport_facts(df: pl.DataFrame) -> dict[str, Any]:
    """What the annotated requests show of the server's plain-HTTP redirect, as counts that add up
    across shards (`server_transport` decides from them)."""
    return facts_from_rows(*transport_fact_rows(df))


def server_transport(facts: Sequence[dict[str, Any]]) -> ServerTransport:
    """Does the server redirect plain HTTP, from the `transport_facts` of every shard."""
    codes: dict[int, int] = {}
    methods: dict[str, int] = {}
    for f in facts:
        for k, v in f["status_codes"].items():
            codes[k] = codes.get(k, 0) + v
        for k, v in f["methods"].items():
            methods[k] = methods.get(k, 0) + v
    if sum(f["redirected"] for f in facts):
        evidence = "logged" if sum(f["redirected_unlogged"] for f in facts) == 0 else "inferred"
        return ServerTransport(True, evidence, codes, methods, sum(f.get("redirected_by_edge", 0) for f in facts))
    if any(f["scheme_logged"] for f in facts):
        # The scheme is logged and no plain-HTTP request was redirected: the server does not redirect.
        return ServerTransport(False if sum(f["plain"] for f in facts) else None, "logged")
    return ServerTransport(None, "none")


def build_flows(ingest: Ingest, options: FlowOptions | None = None, redirecting: Mapping[str, Sequence[int]] | None = None) -> Flows:
    """Clients, attempts and outcomes for everything `read_logs` returned (or one shard of it, with the
    `redirecting` inputs known from all shards)."""
    options = options or FlowOptions()
    df = annotate(ingest, options, redirecting)
    per_request, attempts = _attempts(df, options)
    df = df.with_columns(per_request)
    partials = client_partials(df)
    clients = finish_clients(partials, attempt_counts(attempts), options)
    server = server_transport([transport_facts(df)])
    return Flows(requests=df, attempts=attempts, clients=clients, server=server, options=options, partials=partials)
