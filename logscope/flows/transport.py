"""Does the server redirect plain HTTP to HTTPS, and how do we know: the scheme where the log has it, else the
redirects clients followed to the same path (inferred only when the pattern recurs). Counts that add up across
shards and the watch's addresses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ..schema import CODED
from .options import FlowOptions

REDIRECTS = [301, 302, 303, 307, 308]
EVIDENCE = pl.Enum(["logged", "inferred"])  # how a request's scheme is known
MIN_INFERRED_REDIRECTS = 3


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
