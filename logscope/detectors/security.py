"""Transport security (the second seed): HSTS, credentials over plain HTTP, MCP served over HTTP."""

from __future__ import annotations

import polars as pl

from ..schema import per_distinct
from . import Context, Finding, detector

ONE_YEAR = 31_536_000
ONE_DAY = 86_400
SECRET_PARAMS = r"(?i)(?:^|&)(?:token|access_token|id_token|refresh_token|api_key|apikey|key|code|client_secret|password)="


def _https_with_headers(ctx: Context) -> pl.DataFrame:
    # Only inputs that log response headers can show a header missing.
    return ctx.rows_logging("hsts").filter(pl.col("scheme_eff") == "https")


@detector
def hsts_missing(ctx: Context) -> list[Finding]:
    https = _https_with_headers(ctx)
    rows = https.filter(pl.col("hsts").is_null())
    if rows.height == 0:
        return []
    total = https.height
    partial = rows.height < total
    detail = (
        f"{rows.height} of {total} HTTPS responses carried no Strict-Transport-Security header"
        + (" (it is sent on some responses only; HSTS is a per-host policy)." if partial else ".")
        + " Without it an attacker on the first plain-HTTP connection can downgrade tool calls and read bearer tokens."
    )
    return [ctx.finding("hsts-missing", "medium" if partial else "high", "HTTPS responses without HSTS", detail, rows, count=rows.height)]


@detector
def hsts_weak(ctx: Context) -> list[Finding]:
    sent = _https_with_headers(ctx).filter(pl.col("hsts").is_not_null())
    if sent.height == 0:
        return []
    sent = sent.with_columns(
        per_distinct(sent["hsts"], lambda v: v.str.extract(r"(?i)max-age\s*=\s*\"?(\d+)", 1).cast(pl.Int64, strict=False)).alias(
            "_max_age"
        ),
        per_distinct(sent["hsts"], lambda v: v.str.contains(r"(?i)includesubdomains")).alias("_subdomains"),
    )
    rows = sent.filter((pl.col("_max_age").fill_null(0) < ONE_YEAR) | ~pl.col("_subdomains"))
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


@detector
def hsts_over_http(ctx: Context) -> list[Finding]:
    rows = ctx.rows_logging("hsts").filter((pl.col("scheme") == "http") & pl.col("hsts").is_not_null())
    if rows.height == 0:
        return []
    detail = f"{rows.height} plain-HTTP response(s) carried Strict-Transport-Security, which clients ignore over HTTP."
    return [ctx.finding("hsts-over-http", "low", "HSTS sent over plain HTTP", detail, rows)]


@detector
def cleartext_credentials(ctx: Context) -> list[Finding]:
    auth = pl.col("has_authorization").fill_null(False)
    secret_query = pl.col("query").str.contains(SECRET_PARAMS).fill_null(False)
    rows = ctx.requests.filter((pl.col("scheme_eff") == "http") & (auth | secret_query))
    if rows.height == 0:
        return []
    detail = (
        f"{rows.height} request(s) from {rows['client_id'].n_unique()} client(s) sent an Authorization header or a token in "
        "the query string over plain HTTP: the credential crossed the network in cleartext. Rotate it, and never serve over HTTP."
    )
    return [ctx.finding("cleartext-credentials", "critical", "Credentials sent over plain HTTP", detail, rows)]


@detector
def http_served(ctx: Context) -> list[Finding]:
    rows = ctx.requests.filter((pl.col("role") == "endpoint") & (pl.col("scheme") == "http") & pl.col("status").is_between(200, 299))
    if rows.height == 0:
        return []
    detail = f"{rows.height} endpoint request(s) were answered 2xx over plain HTTP: MCP traffic (and any token) is readable on the wire."
    return [ctx.finding("http-served", "high", "MCP served over plain HTTP", detail, rows)]
