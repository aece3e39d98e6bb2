"""Authorization that never completes: the OAuth loop (401, discovery, never an authorized success) and a token
issued to a client that then goes silent."""

from __future__ import annotations

import polars as pl

from .registry import Context, Finding, detector

ABANDON_AFTER_S = 300  # a client with a fresh token comes back within seconds


def _auth_loops(ctx: Context) -> pl.DataFrame:
    """Clients that got 401 on the endpoint, went through discovery or registration, and never got a 2xx.

    The OAuth requests may come from the client's address without its User-Agent (the official Python SDK
    sends its discovery and registration requests with none, measured in the lab): they count for every
    client at that address, and are tallied under its id."""
    if not (ctx.requests["role"] == "auth").any():
        return ctx.tally(ctx.requests.clear())
    per_client = ctx.requests.group_by("client_id").agg(
        pl.col("client_ip").first(),
        ((pl.col("role") == "endpoint") & (pl.col("status") == 401)).sum().alias("unauthorized"),
        ((pl.col("role") == "endpoint") & pl.col("status").is_between(200, 299)).sum().alias("ok"),
    )
    if ctx.carried is not None:  # successes folded away by `logscope watch` count too
        folded = ctx.carried.select(pl.col("client_id").cast(per_client.schema["client_id"]), pl.col("endpoint_2xx").alias("_folded"))
        per_client = per_client.join(folded, on="client_id", how="left").with_columns(pl.col("ok") + pl.col("_folded").fill_null(0))
    oauth = ctx.requests.filter(pl.col("role") == "auth")
    looping = per_client.filter(
        (pl.col("unauthorized") > 0) & (pl.col("ok") == 0) & pl.col("client_ip").is_in(oauth["client_ip"].implode())
    )
    refused = ctx.requests.filter(pl.col("client_id").is_in(looping["client_id"].implode()) & (pl.col("status") == 401))
    owned = oauth.drop("client_id").join(looping.select("client_ip", "client_id"), on="client_ip").select(refused.columns)
    return ctx.tally(pl.concat([refused, owned.cast(refused.schema)]).sort("seq"))  # seq: log order


@detector("auth-loop", select=_auth_loops)
def auth_loop(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    if tally.height == 0:
        return []
    detail = (
        f"{tally['client_id'].n_unique()} client(s) got 401 on the endpoint, went through OAuth discovery/registration, and never made an "
        "authorized request that succeeded: the metadata, registration or token step is failing for them."
    )
    return [ctx.finding("auth-loop", "high", "OAuth loop: 401, discovery, and no authorized request", detail, tally)]


def _abandoned_tokens(ctx: Context) -> pl.DataFrame:
    tokens = ctx.requests.filter(pl.col("path").cat.ends_with("/token") & pl.col("status").is_between(200, 299)).sort("ts")
    if tokens.height == 0:
        return ctx.tally(tokens)
    endpoint = (
        ctx.requests.select("client_id", "ts", "role")
        .filter(pl.col("role") == "endpoint")
        .select("client_id", pl.col("ts").alias("_next_ep"))
        .sort("_next_ep")
    )
    nxt = tokens.join_asof(endpoint, left_on="ts", right_on="_next_ep", by="client_id", strategy="forward", check_sortedness=False)
    silent = pl.col("_next_ep").is_null() | ((pl.col("_next_ep") - pl.col("ts")).dt.total_seconds() > ABANDON_AFTER_S)
    return ctx.tally(nxt.filter(silent))


@detector("auth-abandoned", select=_abandoned_tokens)
def auth_abandoned(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    """A token is issued and no endpoint request from that client follows within a few minutes."""
    if tally.height == 0:
        return []
    detail = (
        f"{tally['client_id'].n_unique()} client(s) obtained a token (/token 2xx) and never made an MCP request after it. "
        "The requests that followed did not reach this server: often a WAF or CDN rule blocking the client's User-Agent."
    )
    return [ctx.finding("auth-abandoned", "medium", "Token issued, then silence", detail, tally)]
