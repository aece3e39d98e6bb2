"""Architectures: clients grouped by how they connect, the first seed's table generated.

A fleet of 40 addresses with one User-Agent, one network and one behaviour is one architecture with
40 IPs; three variants of one SDK (plain, SSE, DELETE teardown) are three.
"""

from __future__ import annotations

import hashlib

import polars as pl

KEY = ["agent", "kind", "network", "transport", "mcp_transport", "teardown"]
OUTCOMES = ["stuck", "failing", "degraded", "connected", "not-mcp"]


def architecture_id(values: tuple[object, ...]) -> str:
    text = "\x00".join("" if v is None else str(v) for v in values)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


def label(agent: str | None, kind: str | None, network: str | None, transport: str, mcp_transport: str, teardown: bool) -> str:
    """What an operator calls the row: `MCP-Client on Azure, HTTPS only, Streamable HTTP + DELETE`. A User-Agent
    that names only an HTTP library or a runtime (`node`, `undici`, `python-httpx2`) says which library a
    program used, never which program: `a program using node on AWS, …`."""
    who = agent or "no User-Agent"
    if agent and kind == "http-library":
        who = f"a program using {agent}"
    where = f"on {network}" if network else "on an unnamed network"
    how = {"https-only": "HTTPS only", "starts-http": "starts on HTTP", "http-only": "HTTP only", "unknown": "scheme unknown"}[transport]
    speaks = {
        "streamable-http": "Streamable HTTP",
        "streamable-http+stream": "Streamable HTTP with GET streams",
        "legacy-sse": "HTTP+SSE (legacy)",
        "unknown": "no MCP",
    }[mcp_transport]
    return f"{who} {where}, {how}, {speaks}" + (" + DELETE teardown" if teardown else "")


def assign_architectures(clients: pl.DataFrame) -> pl.DataFrame:
    """Add `architecture` (a short stable id) to each client; computed once per distinct key."""
    keys = clients.select(KEY).unique(maintain_order=True)
    ids = pl.Series("architecture", [architecture_id(row) for row in keys.iter_rows()], dtype=pl.String)
    return clients.join(keys.with_columns(ids), on=KEY, how="left", nulls_equal=True, maintain_order="left")


def architectures_table(clients: pl.DataFrame) -> pl.DataFrame:
    """One row per architecture: the key, a label, counts of clients, IPs, requests, and outcomes."""
    outcome_counts = [(pl.col("outcome") == o).sum().cast(pl.UInt32).alias(o) for o in OUTCOMES]
    table = clients.group_by("architecture", maintain_order=True).agg(
        *[pl.col(k).first() for k in KEY],
        pl.len().alias("clients"),
        pl.col("ip").n_unique().alias("ips"),
        pl.col("requests").sum().alias("requests"),
        (pl.col("outcome") != "not-mcp").any().alias("mcp"),
        *outcome_counts,
    )
    labels = [label(*row) for row in table.select("agent", "kind", "network", "transport", "mcp_transport", "teardown").iter_rows()]
    worst = pl.when(pl.col("stuck") > 0).then(0).when(pl.col("failing") > 0).then(1).when(pl.col("degraded") > 0).then(2).otherwise(3)
    return (
        table.with_columns(pl.Series("label", labels, dtype=pl.String))
        .with_columns(worst.alias("_worst"))
        # MCP architectures first, those with failing clients first among them, then by traffic.
        .sort(["mcp", "_worst", "requests"], descending=[True, False, True])
        .drop("_worst")
    )
