"""Endpoint requests refused outright: 406, 415, 405, 403."""

from __future__ import annotations

import polars as pl

from . import Context, Finding, detector

# code -> (status, title, what it usually means)
REFUSALS = {
    "not-acceptable": (
        406,
        "Endpoint answers 406 Not Acceptable",
        "the client's Accept header is refused (MCP needs application/json and text/event-stream)",
    ),
    "unsupported-media-type": (
        415,
        "Endpoint answers 415 Unsupported Media Type",
        "the request's Content-Type is refused (MCP sends application/json)",
    ),
    "method-not-allowed": (405, "Endpoint answers 405 Method Not Allowed", "the method is not allowed on the endpoint"),
    "forbidden": (403, "Endpoint answers 403 Forbidden", "an Origin check, WAF or allow-list refuses the client"),
}


def _register(code: str) -> None:
    """One detector per refusal in REFUSALS, registered in that order."""
    status, title, meaning = REFUSALS[code]

    def select(ctx: Context) -> pl.DataFrame:
        # A failure that follows a method-changing redirect belongs to redirect-method-downgrade.
        after_redirect = (
            (pl.col("prev_method") == "POST") & pl.col("prev_status").is_in([301, 302, 303]) & (pl.col("prev_path") == pl.col("path"))
        )
        refused = ctx.requests.filter((pl.col("role") == "endpoint") & (pl.col("status") == status))
        rows = ctx.with_previous(refused, "method", "status", "path").filter(~after_redirect.fill_null(False))
        if status == 405:
            # 405 on GET (no stream offered) or DELETE is spec-compliant when the client carries on over POST.
            failing = ctx.clients.filter(pl.col("outcome").is_in(["stuck", "failing"]))["client_id"].implode()
            rows = rows.filter(~pl.col("benign") | pl.col("client_id").is_in(failing))
        return ctx.tally(rows, "method")

    def describe(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
        if tally.height == 0:
            return []
        clients = tally["client_id"].unique().to_list()
        methods = ", ".join(sorted(tally["method"].drop_nulls().cast(pl.String).unique().to_list()))
        detail = f"{tally['n'].sum()} endpoint request(s) ({methods}) from {len(clients)} client(s) got {status}: {meaning}."
        severity = "high" if ctx.any_failing(clients) else "medium"
        return [ctx.finding(code, severity, title, detail, tally)]

    describe.__name__ = describe.__qualname__ = code.replace("-", "_")
    detector(select=select)(describe)


for _code in REFUSALS:
    _register(_code)
