#!/usr/bin/env python3
"""Generate the bundled sample: the first seed's five days of MCP traffic, as nginx combined and Caddy JSON.

    python sample_logs/generate.py [OUT_DIR]  # (re)writes mcp-seed.access.log, mcp-seed.caddy.json,
                                              # mcp-after-fix.access.log (the day after the 308 fix) and
                                              # mcp-seed.haproxy.log (the five days behind HAProxy)

Deterministic (fixed seed). One list of requests is written in both formats, so the same scenario can
be analysed from a log that records the scheme (Caddy's `tls` object) and from one that does not
(nginx combined, where HTTP -> HTTPS redirects must be inferred).

What is in it (from ../shared/seeds/000_*.txt, the operator's table of eight client architectures):
  1. Cloudflare AI Gateway (`ke/JS 0.64.2`)            HTTPS only, streamable HTTP
  2. Cloudflare AI Workers fleet, 40 addresses in 172.64.0.0/13, no User-Agent, HTTPS only
  3. Node.js custom agent, Johannesburg, no User-Agent, HTTPS only, opens GET streams
  4. Python smolagents (`python-httpx/0.28.1`), HTTPS only
  5. Python Azure SDK (`python-httpx/0.28.1`, Azure), HTTPS only
  6. Python Azure SDK, SSE variant (GET /sse + POST /messages/), HTTPS only
  7. Python Azure SDK with DELETE teardown (52.151.51.77), HTTPS only
  8. MCP-Client/1.0 (158.51.125.197, a VPS) from 2026-05-20T20:20Z: POST over plain HTTP -> 301 ->
     GET -> 400 on six paths, one initialize over HTTPS whose next request fails, homepage, again
  +  54.67.34.241 (AWS us-west-1, no User-Agent): POST /mcp/sse -> 301 -> GET -> 400, every ~30 min
     for three days (140+ failed attempts)
  +  background that must not be called stuck: browsers (one follows GET 301 -> GET 200), crawlers,
     scanners, an uptime monitor.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "mcp.example.net"
START = datetime(2026, 5, 16, 12, 0, tzinfo=UTC)
END = datetime(2026, 5, 21, 12, 0, tzinfo=UTC)
HSTS = "max-age=86400"  # weak on purpose: the second seed's transport-security case


@dataclass
class Request:
    ts: datetime
    ip: str
    method: str
    target: str
    status: int
    ua: str | None
    https: bool = True
    size: int = 0
    duration: float = 0.01
    referer: str | None = None
    protocol: str = "HTTP/1.1"


rng = random.Random(20260520)
requests: list[Request] = []


def add(r: Request) -> Request:
    requests.append(r)
    return r


def redirect_then(r: Request, follow_method: str, follow_status: int, delay: float = 0.3) -> None:
    """A plain-HTTP request answered 301 to the same path over HTTPS, and how the client followed it."""
    add(replace(r, https=False, status=301, size=162, duration=0.0))
    add(
        replace(r, ts=r.ts + timedelta(seconds=delay), method=follow_method, status=follow_status, size=0 if follow_status >= 400 else 1200)
    )


def every(start: datetime, end: datetime, mean_gap_s: float, jitter: float = 0.3):
    t = start
    while t < end:
        yield t
        t += timedelta(seconds=mean_gap_s * rng.uniform(1 - jitter, 1 + jitter))


def streamable_session(t: datetime, ip: str, ua: str | None, *, stream: bool = False, teardown: bool = False, calls: int = 2) -> None:
    """A healthy streamable-HTTP session: initialize, initialized notification, list, calls."""
    add(Request(t, ip, "POST", "/mcp", 200, ua, size=rng.randint(380, 520), duration=rng.uniform(0.02, 0.09)))
    t += timedelta(seconds=rng.uniform(0.1, 0.4))
    add(Request(t, ip, "POST", "/mcp", 202, ua, duration=0.004))
    if stream:
        # The GET stream is logged when it closes: duration is how long it stayed open.
        length = rng.uniform(20, 280)
        add(Request(t + timedelta(seconds=length), ip, "GET", "/mcp", 200, ua, size=rng.randint(60, 900), duration=length))
    t += timedelta(seconds=rng.uniform(0.2, 1.0))
    add(Request(t, ip, "POST", "/mcp", 200, ua, size=rng.randint(2000, 6000), duration=rng.uniform(0.02, 0.1)))
    for _ in range(calls):
        t += timedelta(seconds=rng.uniform(1, 8))
        add(Request(t, ip, "POST", "/mcp", 200, ua, size=rng.randint(200, 9000), duration=rng.uniform(0.05, 1.5)))
    if teardown:
        add(Request(t + timedelta(seconds=rng.uniform(0.5, 2)), ip, "DELETE", "/mcp", 200, ua, duration=0.003))


def legacy_sse_session(t: datetime, ip: str, ua: str | None) -> None:
    """HTTP+SSE (2024-11-05): GET /sse held open, messages POSTed to /messages/?session_id=…"""
    session = f"{rng.getrandbits(128):032x}"
    length = rng.uniform(30, 240)
    add(Request(t + timedelta(seconds=length), ip, "GET", "/sse", 200, ua, size=rng.randint(300, 4000), duration=length))
    for i in range(rng.randint(3, 6)):
        t += timedelta(seconds=rng.uniform(0.2, 6))
        add(Request(t, ip, "POST", f"/messages/?session_id={session}", 202, ua, size=8, duration=0.004 + i * 0.001))


# 1. Cloudflare AI Gateway ---------------------------------------------------------------------------
for t in every(START, END, 3 * 3600):
    streamable_session(t, f"162.158.{rng.randint(80, 95)}.{rng.randint(2, 250)}", "ke/JS 0.64.2")

# 2. Cloudflare AI Workers fleet: 40 addresses, one behaviour, no User-Agent ---------------------------
fleet = [f"172.{rng.choice([68, 69, 70, 71])}.{rng.randint(1, 254)}.{rng.randint(1, 254)}" for _ in range(40)]
for t in every(START, END, 1500):
    streamable_session(t, rng.choice(fleet), None, calls=1)

# 3. Node.js custom agent, Johannesburg, no User-Agent, with GET streams -----------------------------
for t in every(START + timedelta(hours=5), END, 4 * 3600):
    streamable_session(t, "102.132.201.18", None, stream=True)

# 4. Python smolagents -------------------------------------------------------------------------------
for t in every(START + timedelta(hours=9), END - timedelta(hours=20), 2 * 3600):
    streamable_session(t, "185.177.126.84", "python-httpx/0.28.1", calls=3)

# 5-7. Python Azure SDK: plain, SSE variant, DELETE teardown -----------------------------------------
for t in every(START, END, 5 * 3600):
    streamable_session(t, "20.42.65.89", "python-httpx/0.28.1")
for t in every(START + timedelta(hours=2), END, 6 * 3600):
    legacy_sse_session(t, "40.76.54.131", "python-httpx/0.28.1")
for t in every(START + timedelta(hours=1), END, 7 * 3600):
    streamable_session(t, "52.151.51.77", "python-httpx/0.28.1", teardown=True)

# 8. MCP-Client/1.0 from 2026-05-20T20:20Z: the POST -> 301 -> GET -> 400 loop over six paths -------------
LOOP_PATHS = ["/mcp", "/mcp/", "/sse", "/v1/mcp", "/messages", "/mcp/messages"]
t = datetime(2026, 5, 20, 20, 20, 3, tzinfo=UTC)
cycle = 0
while t < END:
    for path in LOOP_PATHS:
        probe = Request(t, "158.51.125.197", "POST", path, 400, "MCP-Client/1.0")
        redirect_then(probe, "GET", 400 if path != "/sse" else 405)
        t += timedelta(seconds=rng.uniform(35, 55))
    if cycle % 3 == 0:
        # The path that happens to start on HTTPS: initialize works, step 2 has lost its session.
        add(Request(t, "158.51.125.197", "POST", "/mcp", 200, "MCP-Client/1.0", size=452, duration=0.05))
        add(Request(t + timedelta(seconds=0.4), "158.51.125.197", "POST", "/mcp", 400, "MCP-Client/1.0", size=62))
        t += timedelta(seconds=rng.uniform(35, 50))
    # It rereads the homepage looking for hints, then starts over.
    add(Request(t, "158.51.125.197", "GET", "/", 200, "MCP-Client/1.0", size=5120))
    add(Request(t + timedelta(seconds=1), "158.51.125.197", "GET", "/.well-known/mcp.json", 404, "MCP-Client/1.0", size=153))
    t += timedelta(seconds=rng.uniform(60, 120))
    cycle += 1

# + 54.67.34.241, no User-Agent: /mcp/sse through the same redirect wall, three days -----------------
for t in every(datetime(2026, 5, 18, 10, 7, tzinfo=UTC), END - timedelta(minutes=20), 29 * 60, jitter=0.1):
    redirect_then(Request(t, "54.67.34.241", "POST", "/mcp/sse", 400, None), "GET", 400)

# + Background: browsers, crawlers, scanners, an uptime monitor ------------------------------------------
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0",
]
for t in every(START, END, 2400):
    ip = f"{rng.choice([81, 86, 92, 176, 203])}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    ua = rng.choice(BROWSERS)
    home = Request(t, ip, "GET", "/", 200, ua, size=5120, protocol="HTTP/2.0")
    if rng.random() < 0.3:
        redirect_then(replace(home, protocol="HTTP/1.1"), "GET", 200)  # a browser typing http://: healthy
    else:
        add(home)
    for asset in ("/static/app.css", "/static/app.js", "/favicon.ico"):
        add(
            Request(
                t + timedelta(seconds=0.5),
                ip,
                "GET",
                asset,
                200,
                ua,
                size=rng.randint(800, 40000),
                referer=f"https://{HOST}/",
                protocol="HTTP/2.0",
            )
        )
CRAWLERS = [
    ("66.249.66.1", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    ("20.171.207.130", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"),
    ("40.77.167.20", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
]
for t in every(START, END, 5400):
    ip, ua = rng.choice(CRAWLERS)
    add(Request(t, ip, "GET", "/robots.txt", 200, ua, size=68))
    add(Request(t + timedelta(seconds=2), ip, "GET", "/", 200, ua, size=5120))
for t in every(START, END, 7200):
    ip = f"{rng.choice([45, 193, 194])}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    for path in ("/.env", "/wp-login.php", "/.git/config"):
        add(Request(t, ip, "GET", path, 404, rng.choice(["python-requests/2.32.3", "Mozilla/5.0 zgrab/0.x", None]), size=153))
for t in every(START, END, 600, jitter=0.02):
    add(Request(t, "198.51.100.7", "HEAD", "/", 200, "Uptime-Kuma/1.23.16", duration=0.002))

requests.sort(key=lambda r: r.ts)
seed_requests = requests


# --- The day after the fix: the server answers plain HTTP with 308, and the same clients connect ---------
def after_fix_day() -> list[Request]:
    """2026-05-21T12:00Z to 2026-05-22T12:00Z with `return 308`: POST keeps its method and body."""
    global requests
    requests = []
    start, end = END, END + timedelta(days=1)
    for t in every(start, end, 1500):
        streamable_session(t, rng.choice(fleet), None, calls=1)
    for t in every(start, end, 3 * 3600):
        streamable_session(t, f"162.158.{rng.randint(80, 95)}.{rng.randint(2, 250)}", "ke/JS 0.64.2")
    for t in every(start, end, 5 * 3600):
        streamable_session(t, "20.42.65.89", "python-httpx/0.28.1")
    for ip, ua in (("158.51.125.197", "MCP-Client/1.0"), ("54.67.34.241", None)):
        for t in every(start + timedelta(minutes=5), end, 2 * 3600):
            # Still configured with http://, but the 308 keeps the POST: the session now works.
            add(Request(t, ip, "POST", "/mcp", 308, ua, https=False, size=0, duration=0.0))
            streamable_session(t + timedelta(seconds=0.3), ip, ua)
    for t in every(start, end, 600, jitter=0.02):
        add(Request(t, "198.51.100.7", "HEAD", "/", 200, "Uptime-Kuma/1.23.16", duration=0.002))
    after = sorted(requests, key=lambda r: r.ts)
    requests = seed_requests
    return after


# --- writers ---------------------------------------------------------------------------------------------


def nginx_line(r: Request) -> str:
    """nginx `combined`: no scheme, whole seconds."""
    ts = r.ts.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{r.ip} - - [{ts}] "{r.method} {r.target} {r.protocol}" {r.status} {r.size} "{r.referer or "-"}" "{r.ua or "-"}"'


def caddy_line(r: Request) -> str:
    """Caddy v2 JSON access log: a `tls` object on HTTPS requests, response headers logged."""
    headers: dict[str, list[str]] = {"Accept": ["application/json, text/event-stream"]}
    if r.ua is not None:
        headers["User-Agent"] = [r.ua]
    if r.referer:
        headers["Referer"] = [r.referer]
    request: dict[str, object] = {
        "remote_ip": r.ip,
        "remote_port": str(rng.randint(1024, 65535)),
        "client_ip": r.ip,
        "proto": r.protocol,
        "method": r.method,
        "host": HOST,
        "uri": r.target,
        "headers": headers,
    }
    resp: dict[str, list[str]] = {"Server": ["Caddy"]}
    if r.https:
        request["tls"] = {
            "resumed": False,
            "version": 772,
            "cipher_suite": 4865,
            "proto": "h2" if r.protocol == "HTTP/2.0" else "http/1.1",
            "server_name": HOST,
        }
        resp["Strict-Transport-Security"] = [HSTS]
    if r.status in (301, 302, 307, 308):
        resp["Location"] = [f"https://{HOST}{r.target}"]
    record = {
        "level": "error" if r.status >= 400 else "info",
        "ts": round(r.ts.timestamp(), 6),
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": request,
        "bytes_read": 0,
        "user_id": "",
        "duration": round(r.duration, 6),
        "size": r.size,
        "status": r.status,
        "resp_headers": resp,
    }
    return json.dumps(record, separators=(",", ":"))


# --- the same story behind an edge: the edge answers plain HTTP with its own 301 -------------------------
# Each writer turns one Request into a line of that edge's access log (logscope/data/text_formats.toml,
# json_formats.toml, w3c_fields.toml). A plain-HTTP request answered with a redirect is the edge's own
# answer (no backend named); everything else went to the backend. Times: `r.ts` is when the request ended.

EDGE_HOST = "10.0.3.17"  # the backend behind the edge
edge_rng = random.Random(20261205)  # ports and ids of the edges' lines: apart, so the other files stay as they are


def _start(r: Request) -> datetime:
    return r.ts - timedelta(seconds=r.duration)


def _by_edge(r: Request) -> bool:
    return not r.https and r.status in (301, 302, 307, 308)


def _url(r: Request) -> str:
    return f"{'https' if r.https else 'http'}://{HOST}:{443 if r.https else 80}{r.target}"


def alb_line(r: Request) -> str:
    """AWS Application Load Balancer (2025 fields): `time` when the response left, request_creation_time when it arrived."""
    iso = "%Y-%m-%dT%H:%M:%S.%fZ"
    kind = ("h2" if r.protocol == "HTTP/2.0" else "https") if r.https else "http"
    tls = "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2" if r.https else "- -"
    port = edge_rng.randint(1024, 65535)
    if _by_edge(r):
        target, times, target_status, actions = "-", "-1 -1 -1", "-", "redirect"
        location = f"https://{HOST}:443{r.target}"
    else:
        target, times, target_status, actions = f"{EDGE_HOST}:8000", f"0.000 {r.duration:.3f} 0.000", str(r.status), "forward"
        location = "-"
    return (
        f"{kind} {r.ts.strftime(iso)} app/mcp-alb/50dc6c495c0c9188 {r.ip}:{port} {target} {times} {r.status} {target_status} "
        f'{200 + len(r.target)} {r.size} "{r.method} {_url(r)} {r.protocol}" "{r.ua or "-"}" {tls} '
        f'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/mcp/73e2d6bc24d8a067 "Root=1-{int(r.ts.timestamp()):x}-0" '
        f'"{HOST if r.https else "-"}" "-" 0 {_start(r).strftime(iso)} "{actions}" "{location}" "-" '
        f'"{target if target != "-" else "-"}" "{target_status}" "-" "-" TID_{port:08x}'
    )


def haproxy_line(r: Request) -> str:
    """HAProxy `option httplog` with `capture request header User-Agent`, through syslog (rsyslog's file)."""
    start = _start(r)
    frontend = "fe_https~" if r.https else "fe_http"
    if _by_edge(r):
        route, timers, state = f"{frontend.rstrip('~')}/<NOSRV>", "0/-1/-1/-1/0", "LR--"
    else:
        ms = max(0, round(r.duration * 1000))
        route, timers, state = "be_mcp/mcp1", f"0/0/0/{ms}/{ms}", "----"
    return (
        f"{r.ts.strftime('%b %d %H:%M:%S')} lb1 haproxy[2174]: {r.ip}:{edge_rng.randint(1024, 65535)} "
        f"[{start.strftime('%d/%b/%Y:%H:%M:%S')}.{start.microsecond // 1000:03d}] {frontend} {route} {timers} {r.status} {r.size} "
        f'- - {state} 1/1/0/0/0 0/0 {{{r.ua or ""}}} "{r.method} {r.target} {r.protocol}"'
    )


def envoy_json_line(r: Request) -> str:
    """Envoy Gateway's default JSON access log (listeners 10080 and 10443 for the Gateway's 80 and 443)."""
    edge = _by_edge(r)
    record = {
        ":authority": HOST,
        "bytes_received": 0,
        "bytes_sent": r.size,
        "downstream_local_address": f"10.42.0.77:{10443 if r.https else 10080}",
        "downstream_remote_address": f"{r.ip}:{edge_rng.randint(1024, 65535)}",
        "duration": round(r.duration * 1000),
        "method": r.method,
        "protocol": r.protocol.replace("HTTP/2.0", "HTTP/2"),
        "response_code": r.status,
        "response_code_details": "direct_response" if edge else "via_upstream",
        "response_flags": "-",
        "start_time": _start(r).strftime("%Y-%m-%dT%H:%M:%S.") + f"{_start(r).microsecond // 1000:03d}Z",
        "upstream_host": None if edge else f"{EDGE_HOST}:8000",
        "user-agent": r.ua,
        "x-envoy-origin-path": r.target,
        "x-forwarded-for": r.ip,
    }
    return json.dumps(record, separators=(",", ":"))


def cloudflare_line(r: Request) -> str:
    """Cloudflare Logpush http_requests, unixnano timestamps; "Always Use HTTPS" answers at the edge (origin 0)."""
    record = {
        "ClientIP": r.ip,
        "ClientRequestHost": HOST,
        "ClientRequestMethod": r.method,
        "ClientRequestURI": r.target,
        "ClientRequestProtocol": r.protocol,
        "ClientRequestScheme": "https" if r.https else "http",
        "ClientRequestUserAgent": r.ua or "",
        "EdgeStartTimestamp": int(_start(r).timestamp() * 1e6) * 1000,
        "EdgeEndTimestamp": int(r.ts.timestamp() * 1e6) * 1000,
        "EdgeResponseStatus": r.status,
        "EdgeResponseBytes": r.size,
        "OriginResponseStatus": 0 if _by_edge(r) else r.status,
        "RayID": f"{edge_rng.getrandbits(64):016x}",
    }
    return json.dumps(record, separators=(",", ":"))


def gcp_line(r: Request) -> str:
    """Google Cloud external Application Load Balancer LogEntry (statusDetails of its own redirect: assumed)."""
    record = {
        "insertId": f"{edge_rng.getrandbits(40):x}",
        "jsonPayload": {
            "@type": "type.googleapis.com/google.cloud.loadbalancing.type.LoadBalancerLogEntry",
            "statusDetails": "redirected_by_load_balancer" if _by_edge(r) else "response_sent_by_backend",
        },
        "httpRequest": {
            "requestMethod": r.method,
            "requestUrl": _url(r).replace(":443/", "/").replace(":80/", "/"),
            "status": r.status,
            "responseSize": str(r.size),
            "userAgent": r.ua,
            "remoteIp": r.ip,
            "latency": f"{r.duration:.6f}s",
            "protocol": r.protocol,
        },
        "resource": {"type": "http_load_balancer", "labels": {"url_map_name": "mcp-map"}},
        "timestamp": _start(r).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "severity": "INFO",
        "logName": "projects/mcp-prod/logs/requests",
    }
    return json.dumps({k: v for k, v in record.items() if v is not None}, separators=(",", ":"))


def appgw_record(r: Request) -> dict[str, object]:
    """Azure Application Gateway ApplicationGatewayAccessLog (as diagnostic settings write it)."""
    path, _, query = r.target.partition("?")
    return {
        "time": r.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "resourceId": "/SUBSCRIPTIONS/0/RESOURCEGROUPS/MCP/PROVIDERS/MICROSOFT.NETWORK/APPLICATIONGATEWAYS/MCP-GW",
        "operationName": "ApplicationGatewayAccess",
        "category": "ApplicationGatewayAccessLog",
        "properties": {
            "clientIP": r.ip,
            "httpMethod": r.method,
            "requestUri": path,
            "requestQuery": query or None,
            "userAgent": r.ua or "-",
            "httpStatus": r.status,
            "httpVersion": r.protocol,
            "sentBytes": r.size,
            "timeTaken": round(r.duration, 3),
            "sslEnabled": "on" if r.https else "off",
            "host": HOST,
            "serverRouted": "" if _by_edge(r) else f"{EDGE_HOST}:8000",
            "serverStatus": "" if _by_edge(r) else str(r.status),
        },
    }


def appgw_line(r: Request) -> str:
    return json.dumps(appgw_record(r), separators=(",", ":"))


def cloudfront_lines(requests_: list[Request]) -> list[str]:
    """Amazon CloudFront standard log (W3C header, tab-separated, URL-encoded values; `time` when it finished)."""
    fields = (
        "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query "
        "cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol "
        "ssl-cipher x-edge-response-result-type cs-protocol-version"
    )
    out = ["#Version: 1.0", f"#Fields: {fields}"]
    for r in requests_:
        path, _, query = r.target.partition("?")
        result = "Redirect" if _by_edge(r) else "Miss"
        ua = (r.ua or "-").replace(" ", "%20")
        tls = ("TLSv1.3", "TLS_AES_128_GCM_SHA256") if r.https else ("-", "-")
        values = [r.ts.strftime("%Y-%m-%d"), r.ts.strftime("%H:%M:%S"), "FRA56-P1", str(r.size), r.ip, r.method]
        values += [
            "d111111abcdef8.cloudfront.net",
            path,
            str(r.status),
            "-",
            ua,
            query or "-",
            "-",
            result,
            f"{edge_rng.getrandbits(64):x}",
        ]
        values += [HOST, "https" if r.https else "http", "120", f"{r.duration:.3f}", "-", *tls, result, r.protocol]
        out.append("\t".join(values))
    return out


def envoy_text_line(r: Request) -> str:
    """Envoy's default text format: no peer address (the client is X-Forwarded-For's), no scheme."""
    start = _start(r)
    upstream = "-" if _by_edge(r) else f"{EDGE_HOST}:8000"
    return (
        f'[{start.strftime("%Y-%m-%dT%H:%M:%S.")}{start.microsecond // 1000:03d}Z] "{r.method} {r.target} {r.protocol}" {r.status} - 0 '
        f'{r.size} {round(r.duration * 1000)} - "{r.ip}" "{r.ua or "-"}" "{edge_rng.getrandbits(64):016x}" "{HOST}" "{upstream}"'
    )


def elb_line(r: Request) -> str:
    """AWS Classic Load Balancer: it has no redirect, so the backend's 301 passes through it (`timestamp` when the
    request arrived)."""
    tls = "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2" if r.https else "- -"
    return (
        f"{_start(r).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} mcp-elb {r.ip}:{edge_rng.randint(1024, 65535)} {EDGE_HOST}:8000 0.000021 "
        f'{r.duration:.6f} 0.000014 {r.status} {r.status} 120 {r.size} "{r.method} {_url(r)} {r.protocol}" "{r.ua or "-"}" {tls}'
    )


def frontdoor_line(r: Request) -> str:
    """Azure Front Door Standard/Premium access log record (an edge redirect names no origin: unverified)."""
    record = {
        "time": r.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "category": "FrontDoorAccessLog",
        "operationName": "Microsoft.Cdn/Profiles/AccessLog/Write",
        "properties": {
            "trackingReference": f"{edge_rng.getrandbits(64):016X}",
            "httpMethod": r.method,
            "httpVersion": r.protocol.removeprefix("HTTP/"),
            "requestUri": _url(r),
            "requestBytes": "120",
            "responseBytes": str(r.size),
            "userAgent": r.ua or "",
            "clientIp": r.ip,
            "clientPort": str(edge_rng.randint(1024, 65535)),
            "timeTaken": f"{r.duration:.3f}",
            "securityProtocol": "TLS 1.3" if r.https else "",
            "httpStatusCode": str(r.status),
            "pop": "FRA",
            "cacheStatus": "CONFIG_NOCACHE",
            "originIp": "N/A" if _by_edge(r) else f"{EDGE_HOST}:443",
        },
    }
    return json.dumps(record, separators=(",", ":"))


def iis_lines(requests_: list[Request]) -> list[str]:
    """IIS 10 W3C extended log (URL Rewrite answers plain HTTP itself; the log cannot say who answered)."""
    out = ["#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0", "#Date: 2026-05-16 12:00:00"]
    fields = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status"
    out.append(f"#Fields: {fields} sc-substatus sc-win32-status time-taken")
    for r in requests_:
        path, _, query = r.target.partition("?")
        ua = (r.ua or "-").replace(" ", "+")
        out.append(
            f"{r.ts.strftime('%Y-%m-%d %H:%M:%S')} 10.0.3.17 {r.method} {path} {query or '-'} {443 if r.https else 80} - {r.ip} {ua} - "
            f"{r.status} 0 0 {round(r.duration * 1000)}"
        )
    return out


EDGE_WRITERS = {
    "aws-alb.log": alb_line,
    "haproxy.log": haproxy_line,
    "envoy-gateway.json": envoy_json_line,
    "cloudflare.json": cloudflare_line,
    "gcp-lb.json": gcp_line,
    "azure-appgw.json": appgw_line,
    "azure-frontdoor.json": frontdoor_line,
    "envoy.log": envoy_text_line,
    "aws-elb.log": elb_line,
}


def write_edges(out: Path, requests_: list[Request]) -> list[Path]:
    """The story as each edge logs it, one file per edge (and CloudFront's W3C file)."""
    written = []
    for name, writer in EDGE_WRITERS.items():
        path = out / name
        path.write_text("".join(writer(r) + "\n" for r in requests_), encoding="utf-8")
        written.append(path)
    for name, lines in (("cloudfront.log", cloudfront_lines(requests_)), ("iis.log", iis_lines(requests_))):
        path = out / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    (out / "mcp-seed.access.log").write_text("".join(nginx_line(r) + "\n" for r in requests), encoding="utf-8")
    (out / "mcp-seed.caddy.json").write_text("".join(caddy_line(r) + "\n" for r in requests), encoding="utf-8")
    print(f"wrote {len(requests)} requests from {requests[0].ts.isoformat()} to {requests[-1].ts.isoformat()}")
    after = after_fix_day()
    (out / "mcp-after-fix.access.log").write_text("".join(nginx_line(r) + "\n" for r in after), encoding="utf-8")
    print(f"wrote {len(after)} requests of the day after the fix (308)")
    # The same five days behind HAProxy, which answers plain HTTP with its own 301 (option httplog through syslog).
    (out / "mcp-seed.haproxy.log").write_text("".join(haproxy_line(r) + "\n" for r in requests), encoding="utf-8")
    print(f"wrote {len(requests)} requests as HAProxy logs them")
