"""What the logs cannot show: name the field to add instead of guessing (an `info` finding)."""

from __future__ import annotations

import polars as pl

from .registry import Context, Finding, detector, edge_name, edges

# canonical column -> (nginx variable, why logscope wants it)
WANTED = {
    "scheme": ("$scheme", "whether each request came over HTTP or HTTPS (otherwise inferred from redirects, or unknown)"),
    "location": ("$sent_http_location", "where redirects send clients (otherwise inferred from the next request)"),
    "hsts": ("$sent_http_strict_transport_security", "the HSTS checks"),
    "duration_s": ("$request_time", "cut SSE streams, and placing long streams at their start"),
}
NGINX_FORMAT = (
    "log_format mcp '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent '\n"
    '               \'"$http_referer" "$http_user_agent" $request_time $scheme \'\n'
    '               \'"$sent_http_location" "$sent_http_strict_transport_security"\';\n'
    "access_log /var/log/nginx/access.log mcp;"
)
FIX = {
    "nginx": NGINX_FORMAT,
    "caddy": "# Caddy's JSON access log records all of these; use `log { format json }` rather than a custom format.",
    "traefik": (
        "accessLog:\n  format: json\n  fields:\n    defaultMode: keep\n    headers:\n      names:\n"
        "        User-Agent: keep\n        Location: keep\n        Strict-Transport-Security: keep"
    ),
    "apache": (
        'LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %{SSL_PROTOCOL}x '
        '\\"%{Location}o\\" \\"%{Strict-Transport-Security}o\\"" mcp\nCustomLog ${APACHE_LOG_DIR}/access.log mcp'
    ),
}


#: For an edge's log (which names no nginx variables): what each column is, in words, and why it is wanted.
EDGE_WANTED = {
    "user_agent": ("the User-Agent", "telling apart the clients behind one address, and naming them"),
    "scheme": ("the scheme", WANTED["scheme"][1]),
    "location": ("the Location", WANTED["location"][1]),
    "hsts": ("Strict-Transport-Security", WANTED["hsts"][1]),
    "duration_s": ("the duration", WANTED["duration_s"][1]),
}


@detector("log-field-missing", server_level=True)
def log_field_missing(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    edge = ctx.edge()
    if edge is not None:  # in the edge's own words: what its log lacks and how that edge logs it (data/edges.toml)
        spec = edges().get(edge, {})
        named = spec.get("fields", {})
        missing = [(col, label, f"{named[col]}: {why}" if col in named else why) for col, (label, why) in EDGE_WANTED.items()]
        missing = [m for m in missing if not ctx.logs(m[0])]
        title = f"The {edge_name(edge).removeprefix('the ')} log lacks " + ", ".join(label for _, label, _ in missing)
        fix = {edge: spec["log_fix"], **FIX} if "log_fix" in spec else dict(FIX)
    else:
        missing = [(col, var, why) for col, (var, why) in WANTED.items() if not ctx.logs(col)]
        title = "Log format lacks " + ", ".join(var for _, var, _ in missing)
        fix = dict(FIX)
    if not missing:
        return []
    inferred = ctx.flows.server.evidence == "inferred"
    parts = [f"{var} ({why})" for _, var, why in missing]
    detail = "The access log does not record " + "; ".join(parts) + ". Add them to the log format to make these checks exact."
    if inferred:
        detail += " HTTP/HTTPS was inferred from the redirects the log shows."
    return [
        Finding(
            code="log-field-missing",
            severity="info",
            title=title,
            detail=detail,
            clients=[],
            count=len(missing),
            first_seen=None,
            last_seen=None,
            fix=fix,
        )
    ]


PROXY_SHARE = 0.5
# Where proxies and load balancers sit: RFC 1918, loopback, carrier-grade NAT, IPv6 unique-local and
# link-local. (Python's is_private also counts documentation ranges, which real clients can use.)
PROXY_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10")


def _busiest(clients: pl.DataFrame) -> dict:
    """The address that sent the most requests (`client_ip`, `len`), counted from the clients (one row
    per IP and User-Agent), not from every request. Equal counts go to the lowest address, never to
    the order a group-by happens to give (found by the generated cases: two addresses with half each)."""
    per_ip = clients.group_by(pl.col("ip").alias("client_ip")).agg(pl.col("requests").sum().alias("len"))
    return per_ip.sort(["len", "client_ip"], descending=[True, False], nulls_last=True).row(0, named=True)


def _busiest_address(ctx: Context) -> pl.DataFrame:
    """The requests of the address that sent the most (an address lives in one shard, so the busiest of
    all is the busiest of its shard), and whether the log records X-Forwarded-For."""
    if ctx.requests.height == 0 or ctx.flows.options.trust_forwarded:
        return ctx.tally(ctx.requests.clear(), "client_ip")
    top = _busiest(ctx.clients)["client_ip"]
    rows = ctx.requests.filter(pl.col("client_ip") == top) if top is not None else ctx.requests.clear()
    xff = ctx.requests["forwarded_for"].null_count() < ctx.requests.height
    return ctx.tally(rows, "client_ip").with_columns(pl.lit(xff).alias("forwarded_logged"))


@detector("proxy-in-front", select=_busiest_address, server_level=True)
def proxy_in_front(ctx: Context, tally: pl.DataFrame) -> list[Finding]:
    """Most traffic from one private address means a proxy is in front and clients all look alike."""
    import ipaddress

    if tally.height == 0 or ctx.flows.options.trust_forwarded:
        return []
    total = int(ctx.clients["requests"].sum())
    top = _busiest(ctx.clients)
    if top["client_ip"] is None or top["len"] < PROXY_SHARE * total:
        return []
    try:
        address = ipaddress.ip_address(top["client_ip"])
    except ValueError:
        return []
    private = any(address in ipaddress.ip_network(n) for n in PROXY_NETWORKS if ipaddress.ip_network(n).version == address.version)
    if not private:
        return []
    share = top["len"] / total
    has_xff = bool(tally["forwarded_logged"].any())
    detail = (
        f"{share:.0%} of requests come from {top['client_ip']}, a private address: a proxy or load balancer is in front, "
        "so every client behind it looks like one. "
        + (
            "The log records X-Forwarded-For: run again with --trust-forwarded."
            if has_xff
            else "Log the real client address (below), or add X-Forwarded-For to the log and use --trust-forwarded."
        )
    )
    rows = tally.filter(pl.col("client_ip").cast(pl.String) == top["client_ip"])
    fix = {
        "nginx": "set_real_ip_from 10.0.0.0/8;   # the proxy's addresses\nreal_ip_header X-Forwarded-For;\nreal_ip_recursive on;",
        "caddy": "servers {\n    trusted_proxies static private_ranges\n}   # then client_ip is the real client",
        "traefik": 'entryPoints:\n  websecure:\n    forwardedHeaders:\n      trustedIPs: ["10.0.0.0/8"]',
        "apache": "RemoteIPHeader X-Forwarded-For\nRemoteIPTrustedProxy 10.0.0.0/8",
    }
    # Counted from the clients table, like the share: the same as the tally's rows of a log held whole.
    title = "A proxy hides the clients' addresses"
    return [ctx.finding("proxy-in-front", "info", title, detail, rows, count=int(top["len"]), fix=fix)]
