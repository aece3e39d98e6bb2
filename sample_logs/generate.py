#!/usr/bin/env python3
"""Generate the bundled sample: the first seed's five days of MCP traffic, as nginx combined and Caddy JSON.

    python sample_logs/generate.py [OUT_DIR]  # (re)writes mcp-seed.access.log, mcp-seed.caddy.json
                                              # and mcp-after-fix.access.log (the day after the 308 fix)

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


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    (out / "mcp-seed.access.log").write_text("".join(nginx_line(r) + "\n" for r in requests), encoding="utf-8")
    (out / "mcp-seed.caddy.json").write_text("".join(caddy_line(r) + "\n" for r in requests), encoding="utf-8")
    print(f"wrote {len(requests)} requests from {requests[0].ts.isoformat()} to {requests[-1].ts.isoformat()}")
    after = after_fix_day()
    (out / "mcp-after-fix.access.log").write_text("".join(nginx_line(r) + "\n" for r in after), encoding="utf-8")
    print(f"wrote {len(after)} requests of the day after the fix (308)")
