"""Transport security (the second seed): HSTS, credentials over plain HTTP, MCP served over HTTP."""

from __future__ import annotations

import polars as pl

from ..schema import per_distinct
from .registry import Context, Finding, detector

ONE_YEAR = 31_536_000
ONE_DAY = 86_400
MAX_AGE = r"(?i)max-age\s*=\s*\"?(\d+)"  # a Strict-Transport-Security value's max-age (logscope check reads it too)
INCLUDE_SUBDOMAINS = r"(?i)includesubdomains"
SECRET_PARAMS = r"(?i)(?:^|&)(?:token|access_token|id_token|refresh_token|api_key|apikey|key|code|client_secret|password)="


#: Logged without a response: the client went away (nginx 499) or the server closed the connection (444).
NO_RESPONSE = [444, 499]


def _https_with_headers(ctx: Context) -> pl.DataFrame:
    # Only inputs that log response headers can show a header missing, and only on responses that were sent.
    # Most requests are HTTPS: only the columns a tally reads are copied.
    answered = [c for c in ("answered_by",) if c in ctx.requests.columns]
    rows = ctx.rows_logging("hsts").select("client_id", "ts", "source", "line", "seq", "scheme_eff", "status", "hsts", *answered)
    return rows.filter((pl.col("scheme_eff") == "https") & ~pl.col("status").is_in(NO_RESPONSE))


def _hsts_absent(ctx: Context) -> pl.DataFrame:
    # The responses without the header, per client; those with it only as a count (one row, no client):
    # the finding names who went without, and says of how many.
    rows = _https_with_headers(ctx)
    missing = rows["hsts"].is_null()
    absent = ctx.tally(rows.filter(missing).with_columns(pl.lit(True).alias("missing")), "missing")
    sent = pl.DataFrame({"missing": [False], "n": [rows.height - int(missing.sum())]}, schema_overrides={"n": absent.schema["n"]})
    return pl.concat([absent, sent], how="diagonal_relaxed")


@detector("hsts-missing", select=_hsts_absent, local=True, server_level=True)
def hsts_missing(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    missing = tally.filter(pl.col("missing"))
    if missing.height == 0:
        return []
    total, absent = int(tally["n"].sum()), int(missing["n"].sum())
    partial = absent < total
    detail = (
        f"{absent} of {total} HTTPS responses carried no Strict-Transport-Security header"
        + (" (it is sent on some responses only; HSTS is a per-host policy)." if partial else ".")
        + " Without it an attacker on the first plain-HTTP connection can downgrade tool calls and read bearer tokens."
    )
    return [ctx.finding("hsts-missing", "medium" if partial else "high", "HTTPS responses without HSTS", detail, missing)]


def _policies(values: pl.Series) -> pl.DataFrame:
    """Per Strict-Transport-Security value (worked out once per distinct value): its `_max_age`, whether it has
    `_subdomains`, and whether that makes it `_weak`."""
    max_age = per_distinct(values, lambda v: v.str.extract(MAX_AGE, 1).cast(pl.Int64, strict=False)).alias("_max_age")
    subdomains = per_distinct(values, lambda v: v.str.contains(INCLUDE_SUBDOMAINS)).alias("_subdomains")
    weak = (pl.col("_max_age").fill_null(0) < ONE_YEAR) | ~pl.col("_subdomains")
    return pl.DataFrame([max_age, subdomains]).with_columns(weak.alias("_weak"))


def _weak_policies(ctx: Context) -> pl.DataFrame:
    # Only the weak policies are tallied: most responses carry the strong one, and copying them costs.
    sent = _https_with_headers(ctx).filter(pl.col("hsts").is_not_null())
    return ctx.tally(sent.filter(_policies(sent["hsts"])["_weak"]), "hsts")


@detector("hsts-weak", select=_weak_policies, local=True, server_level=True)
def hsts_weak(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    rows = pl.concat([tally, _policies(tally["hsts"])], how="horizontal").filter("_weak").drop("_weak")
    if rows.height == 0:
        return []
    shortest = int(rows["_max_age"].fill_null(0).min() or 0)
    values = ", ".join(f"'{v}'" for v in rows["hsts"].cast(pl.String).unique().sort().head(3).to_list())
    problems = []
    if shortest < ONE_YEAR:
        problems.append(f"max-age {shortest:,} s is below one year ({ONE_YEAR:,} s)")
    if not rows["_subdomains"].all():
        problems.append("includeSubDomains is missing")
    detail = f"Strict-Transport-Security is {values}: {'; '.join(problems)}. Agents restart often and lose their in-process HSTS cache."
    severity = "high" if shortest < ONE_DAY else "medium"
    return [ctx.finding("hsts-weak", severity, "HSTS policy too weak", detail, rows)]


def _hsts_on_http(ctx: Context) -> pl.DataFrame:
    return ctx.tally(ctx.rows_logging("hsts").filter((pl.col("scheme") == "http") & pl.col("hsts").is_not_null()))


@detector("hsts-over-http", select=_hsts_on_http, local=True, server_level=True)
def hsts_over_http(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    detail = f"{tally['n'].sum()} plain-HTTP response(s) carried Strict-Transport-Security, which clients ignore over HTTP."
    return [ctx.finding("hsts-over-http", "low", "HSTS sent over plain HTTP", detail, tally)]


def _cleartext(ctx: Context) -> pl.DataFrame:
    auth = pl.col("has_authorization").fill_null(False)
    secret_query = pl.col("query").str.contains(SECRET_PARAMS).fill_null(False)
    return ctx.tally(ctx.requests.filter((pl.col("scheme_eff") == "http") & (auth | secret_query)))


@detector("cleartext-credentials", select=_cleartext, local=True)
def cleartext_credentials(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    detail = (
        f"{tally['n'].sum()} request(s) from {tally['client_id'].n_unique()} client(s) sent an Authorization header or a token in "
        "the query string over plain HTTP: the credential crossed the network in cleartext. Rotate it, and never serve over HTTP."
    )
    return [ctx.finding("cleartext-credentials", "critical", "Credentials sent over plain HTTP", detail, tally)]


def _served_over_http(ctx: Context) -> pl.DataFrame:
    return ctx.tally(
        ctx.requests.filter((pl.col("role") == "endpoint") & (pl.col("scheme") == "http") & pl.col("status").is_between(200, 299))
    )


@detector("http-served", select=_served_over_http, local=True)
def http_served(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    detail = (
        f"{tally['n'].sum()} endpoint request(s) were answered 2xx over plain HTTP: MCP traffic (and any token) is readable on the wire."
    )
    return [ctx.finding("http-served", "high", "MCP served over plain HTTP", detail, tally)]
