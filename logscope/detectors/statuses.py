"""Endpoint requests refused outright: 406, 415, 405, 403/421."""

from __future__ import annotations

import polars as pl

from .redirects import downgrade_rows
from .registry import Context, Finding, detector

# code -> (statuses, title, what it usually means)
REFUSALS: dict[str, tuple[tuple[int, ...], str, str]] = {
    "not-acceptable": (
        (406,),
        "Endpoint answers 406 Not Acceptable",
        "the client's Accept header is refused (MCP needs application/json and text/event-stream)",
    ),
    "unsupported-media-type": (
        (415,),
        "Endpoint answers 415 Unsupported Media Type",
        "the request's Content-Type is refused (MCP sends application/json)",
    ),
    "method-not-allowed": ((405,), "Endpoint answers 405 Method Not Allowed", "the method is not allowed on the endpoint"),
    # The official SDKs' Host check (DNS-rebinding protection) refuses a Host it does not know with 403
    # (TypeScript) or 421 Misdirected Request (Python): measured in the lab behind every proxy that
    # passes the public Host on (lab case host-check).
    "forbidden": (
        (403, 421),
        "Endpoint refuses the client (403 Forbidden / 421 Misdirected Request)",
        "an Origin or Host check, a WAF or an allow-list refuses the client (the MCP SDKs' Host check answers 403 or 421 "
        "when the proxy passes on a Host the server was not told to accept)",
    ),
}


def _register(code: str) -> None:
    """One detector per refusal in REFUSALS, registered in that order."""
    statuses, title, meaning = REFUSALS[code]

    def select(ctx: Context) -> pl.DataFrame:
        # A failure that follows a method-changing redirect (to the same path or its trailing-slash twin)
        # belongs to redirect-method-downgrade.
        followed = downgrade_rows(ctx)["next_seq"].implode()
        rows = ctx.requests.filter((pl.col("role") == "endpoint") & pl.col("status").is_in(statuses) & ~pl.col("seq").is_in(followed))
        if statuses == (405,):
            # 405 on GET (no stream offered) or DELETE is spec-compliant when the client carries on over POST.
            failing = ctx.clients.filter(pl.col("outcome").is_in(["stuck", "failing"]))["client_id"].implode()
            rows = rows.filter(~pl.col("benign") | pl.col("client_id").is_in(failing))
        return ctx.tally(rows, "method", "status")

    def describe(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
        if tally.height == 0:
            return []
        clients = tally["client_id"].unique().to_list()
        methods = ", ".join(sorted(tally["method"].drop_nulls().cast(pl.String).unique().to_list()))
        got = "/".join(str(s) for s in sorted(tally["status"].unique().to_list()))
        detail = f"{tally['n'].sum()} endpoint request(s) ({methods}) from {len(clients)} client(s) got {got}: {meaning}."
        severity = "high" if ctx.any_failing(clients) else "medium"
        return [ctx.finding(code, severity, title, detail, tally)]

    describe.__name__ = describe.__qualname__ = code.replace("-", "_")
    detector(code, select=select)(describe)


for _code in REFUSALS:
    _register(_code)
