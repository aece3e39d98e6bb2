"""Redirects that break clients: the POST -> 301 -> GET -> 400 loop first (the seed case)."""

from __future__ import annotations

import polars as pl

from ..flows import REDIRECTS, location_path
from ..flows.rules import followed_within
from .registry import Context, Finding, detector, edge_name, edges

METHOD_CHANGING = [301, 302, 303]


def _codes(tally: pl.DataFrame, column: str = "status") -> str:
    return "/".join(str(c) for c in sorted(tally[column].drop_nulls().unique().to_list()))


def _within_attempt(ctx: Context) -> pl.Expr:
    return followed_within(pl.col("ts"), pl.col("next_ts"), ctx.flows.options.attempt_gap_s)


def _target_path() -> pl.Expr:
    """Where a redirect points: its Location where logged; else the same path, or its trailing-slash twin
    when that is what the client asked for next (nginx answers `/mcp` with 301 to `/mcp/` itself)."""
    path, following = pl.col("path").cast(pl.String), pl.col("next_path").cast(pl.String)
    twin = ((following == path + "/") | (following + "/" == path)).fill_null(False)
    return pl.coalesce(location_path(), pl.when(twin).then(pl.col("next_path")).otherwise(pl.col("path")))


def _answer(ctx: Context) -> tuple[str, ...]:
    """`answered_by`, to count by, where the requests have it (frames built by hand may not)."""
    return ("answered_by",) if "answered_by" in ctx.requests.columns else ()


def who_sent(ctx: Context, tally: pl.DataFrame, codes: str) -> str:
    """What the log says of who sent the redirects a tally counts: the edge itself (and what it can send
    instead), or the server behind it; empty where no log says."""
    answered_by, edge = ctx.answered(tally)
    if edge is None or answered_by is None:
        return ""
    name = edge_name(edge)
    if answered_by == "origin":
        return f" The {codes} came from the server behind {name}, which passed it on: fix the redirect there."
    spec = edges().get(edge, {})
    can = spec.get("redirect_codes", [])
    instead = " Its 307 keeps the method as 308 does." if 307 in can and 308 not in can else ""
    note = f" {spec['post_note']}" if spec.get("post_note") else ""
    return f" The {codes} is sent by {name} itself, not by your server.{note}{instead}"


def _redirected(ctx: Context, condition: pl.Expr) -> pl.DataFrame:
    """Requests matching `condition` (which picks redirects, so few), with what the client sent next."""
    return ctx.with_next(ctx.requests.filter(condition), "method", "path", "status", "ts")


def downgrade_rows(ctx: Context) -> pl.DataFrame:
    """POSTs answered 301/302/303 whose follow-up is the same client's failing GET of the target."""
    return _redirected(ctx, (pl.col("method") == "POST") & pl.col("status").is_in(METHOD_CHANGING)).filter(
        (pl.col("next_method") == "GET") & (pl.col("next_path") == _target_path()) & (pl.col("next_status") >= 400) & _within_attempt(ctx)
    )


def _downgrades(ctx: Context) -> pl.DataFrame:
    return ctx.tally(downgrade_rows(ctx), "status", "next_status", *_answer(ctx), partner="next_seq")


@detector("redirect-method-downgrade", select=_downgrades)
def redirect_method_downgrade(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    clients = tally["client_id"].unique().to_list()
    outcomes = ctx.outcomes(clients)
    stuck = outcomes.get("stuck", 0)
    codes = _codes(tally)
    follow = _codes(tally, "next_status")
    detail = (
        f"The server answers POST with {codes}. {len(clients)} client(s) followed the redirect the way HTTP libraries do "
        f"(RFC 9110 §15.4: a POST redirected with 301/302 may be re-sent as GET, 303 must be; Node's fetch, requests, httpx, "
        f"aiohttp, Java's HttpClient and curl -L all do, docs/clients.md), "
        f"so the MCP request arrived as a body-less GET and failed with {follow}. "
        f"{stuck} of them never connected (stuck). A 308 redirect keeps the method and the body."
    ) + who_sent(ctx, tally, codes)
    return [
        ctx.finding(
            "redirect-method-downgrade",
            "critical" if ctx.any_failing(clients) else "high",
            f"POST redirected with {codes} turns into a failing GET",
            detail,
            tally,
            pairs=True,
        )
    ]


def _unsafe_posts(ctx: Context) -> pl.DataFrame:
    # A POST to a web form answered 302/303 is Post/Redirect/Get, not a problem: only MCP requests and
    # POSTs caught by the plain-HTTP redirect count.
    mcp_or_plain = (pl.col("role") == "endpoint") | pl.col("http_to_https")
    changing = pl.col("status").is_in(METHOD_CHANGING)
    kinds = {
        "downgrade": downgrade_rows(ctx),  # already reported, with the clients it breaks
        "post": ctx.requests.filter((pl.col("method") == "POST") & changing & mcp_or_plain),
        "plain": ctx.requests.filter(pl.col("http_to_https") & changing),
    }
    tallies = [ctx.tally(rows.with_columns(pl.lit(kind).alias("kind")), "kind", "status", *_answer(ctx)) for kind, rows in kinds.items()]
    return pl.concat(tallies, how="diagonal_relaxed")


@detector("unsafe-post-redirect", select=_unsafe_posts, server_level=True)
def unsafe_post_redirect(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    """Preventive: the server answers POSTs (or plain HTTP generally) with a method-changing redirect."""
    if tally.height == 0 or (tally["kind"] == "downgrade").any():
        return []
    posts, plain = tally.filter(pl.col("kind") == "post"), tally.filter(pl.col("kind") == "plain")
    if posts.height:
        detail = (
            f"{posts['n'].sum()} POST request(s) were answered with {_codes(posts)}. No client has been seen failing on it yet, "
            "but HTTP libraries re-send a POST redirected this way as a body-less GET. Use 308."
        ) + who_sent(ctx, posts, _codes(posts))
        return [ctx.finding("unsafe-post-redirect", "medium", f"POST answered with {_codes(posts)}", detail, posts)]
    if plain.height:
        detail = (
            f"Plain-HTTP requests are redirected to HTTPS with {_codes(plain)}. Only GETs have been redirected so far; "
            "an MCP client that starts on http:// would have its POST turned into a GET. Use 308."
        ) + who_sent(ctx, plain, _codes(plain))
        return [ctx.finding("unsafe-post-redirect", "low", f"HTTP -> HTTPS redirect uses {_codes(plain)}", detail, plain)]
    return []


def _not_followed(ctx: Context) -> pl.DataFrame:
    rows = _redirected(ctx, (pl.col("method") == "POST") & pl.col("status").is_in(REDIRECTS) & (pl.col("role") == "endpoint")).filter(
        pl.col("next_ts").is_null() | ~_within_attempt(ctx) | (pl.col("next_path") != _target_path())
    )
    return ctx.tally(rows, "status", *_answer(ctx))


@detector("redirect-not-followed", select=_not_followed)
def redirect_not_followed(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    clients = tally["client_id"].unique().to_list()
    detail = (
        f"{tally['n'].sum()} POST(s) from {len(clients)} client(s) were answered with {_codes(tally)} and not followed: "
        "the official MCP SDKs (Python and TypeScript) follow a POST's redirect to HTTPS only when it is a 307 or 308, and stop "
        "at a 301/302/303 (docs/clients.md). Serve MCP over HTTPS and publish the https:// URL; redirect with 308."
    ) + who_sent(ctx, tally, _codes(tally))
    severity = "high" if ctx.any_failing(clients) else "medium"
    return [ctx.finding("redirect-not-followed", severity, "POST redirected and never followed", detail, tally)]


def _slash_redirects(ctx: Context) -> pl.DataFrame:
    target = pl.coalesce(location_path(), pl.when(_within_attempt(ctx)).then(pl.col("next_path"))).cast(pl.String)
    path = pl.col("path").cast(pl.String)
    slash_twin = (target == path + "/") | ((target + "/") == path)
    # Redirected endpoint requests are few: compare paths only for them.
    redirected = _redirected(ctx, (pl.col("role") == "endpoint") & pl.col("status").is_in(REDIRECTS))
    rows = redirected.filter(slash_twin.fill_null(False)).with_columns((pl.col("next_status") == 404).fill_null(False).alias("lost"))
    return ctx.tally(rows, "status", "lost", partner="next_seq")


@detector("trailing-slash-redirect", select=_slash_redirects)
def trailing_slash_redirect(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    lost = tally.filter(pl.col("lost"))["n"].sum()
    detail = (
        f"{tally['n'].sum()} endpoint request(s) were redirected to the same path with or without a trailing slash "
        f"({_codes(tally)}), doubling each request" + (f"; {lost} of the follow-ups got 404" if lost else "") + "."
    )
    severity = "medium" if lost else "low"
    return [
        ctx.finding("trailing-slash-redirect", severity, "Endpoint redirected to add or drop a trailing slash", detail, tally, pairs=True)
    ]
