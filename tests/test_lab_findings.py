"""What the lab found (docs/lab.md), each pinned as a small scenario written the way the real servers
logged it, so a regression names its cause rather than only a verdict in the corpus."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from logscope import FormatChoice, read_logs
from logscope.analysis import analyze

from .test_detectors import Hit, codes, every, finding, outcome, run

SDK = "python-httpx2/2.16.2"


def test_a_redirect_and_its_follow_up_in_one_second_keep_their_order(tmp_path: Path) -> None:
    """nginx with $request_time stamps whole seconds: the 308 (0.000 s) and its follow-up (0.025 s) written in
    the same second must not swap, or the attempt ends on the 308 and a healthy client looks stuck."""

    def attempt(t: float) -> list[Hit]:
        hops = [(308, "http", 0.000), (200, "https", 0.025), (308, "http", 0.002), (202, "https", 0.006), (308, "http", 0.005)]
        return [
            Hit(t, "POST", "/mcp", s, scheme=sc, duration=d, location="https://mcp.example.net/mcp" if s == 308 else None)
            for s, sc, d in hops
        ] + [Hit(t, "POST", "/mcp", 200, duration=0.003)]

    analysis = run(tmp_path, every(10, 60, attempt))
    assert outcome(analysis) == "connected"
    assert analysis.clients["successful_attempts"].item() == 10


def test_the_last_post_decides_not_the_teardown_or_the_stream(tmp_path: Path) -> None:
    """Replicas without sticky sessions: initialize 200, the next POST 404 (the other replica), then the SDK's
    DELETE 200 and its GET stream 200, logged as it closes. The client never connected."""

    def attempt(t: float) -> list[Hit]:
        return [
            Hit(t, "POST", "/mcp", 200, ua="node"),
            Hit(t + 0.1, "POST", "/mcp", 404, ua="node"),
            Hit(t + 0.2, "DELETE", "/mcp", 200, ua="node"),
            Hit(t + 0.3, "GET", "/mcp", 200, ua="node", duration=0.25),
        ]

    analysis = run(tmp_path, every(10, 60, attempt))
    assert outcome(analysis) == "stuck"
    assert "session-lost" in codes(analysis)


def test_a_client_that_stops_at_the_301_is_http_only_in_combined(tmp_path: Path) -> None:
    """No scheme logged. Three clients follow the 301 as GET (the server redirects plain HTTP); the SDK stops at
    it and sends its next POST to the same http:// URL, which gets the same 301: it never used HTTPS."""
    followers = [
        h
        for i, ip in enumerate(("198.51.100.21", "198.51.100.22", "198.51.100.23"))
        for h in every(10, 60, lambda t, ip=ip, i=i: [Hit(t + i, "POST", "/mcp", 301, ip=ip), Hit(t + i + 0.1, "GET", "/mcp", 400, ip=ip)])
    ]
    sdk = every(10, 60, lambda t: [Hit(t + 5, "POST", "/mcp", 301, ua=SDK), Hit(t + 5.01, "POST", "/mcp", 301, ua=SDK)])
    analysis = run(tmp_path, followers + sdk, layout="combined")
    row = analysis.clients.filter(pl.col("user_agent") == SDK).row(0, named=True)
    assert (row["transport"], row["transport_evidence"], row["outcome"]) == ("http-only", "inferred", "stuck")
    assert "redirect-not-followed" in row["failure_modes"] and "redirect-method-downgrade" not in row["failure_modes"]


def test_the_python_sdk_host_check_answers_421(tmp_path: Path) -> None:
    analysis = run(tmp_path, every(10, 60, lambda t: [Hit(t, "POST", "/mcp", 421, ua=SDK), Hit(t + 0.01, "POST", "/mcp", 421, ua=SDK)]))
    assert outcome(analysis) == "stuck"
    assert "421" in finding(analysis, "forbidden").detail


def test_oauth_requests_from_the_clients_address_without_a_user_agent(tmp_path: Path) -> None:
    """The Python SDK sends its discovery and registration with no User-Agent: a client of its own in the log."""

    def attempt(t: float) -> list[Hit]:
        return [
            Hit(t, "POST", "/mcp", 401, ua=SDK),
            Hit(t + 0.1, "GET", "/.well-known/oauth-protected-resource/mcp", 200, ua=None),
            Hit(t + 0.2, "GET", "/.well-known/oauth-authorization-server", 404, ua=None),
            Hit(t + 0.3, "POST", "/register", 404, ua=None),
        ]

    analysis = run(tmp_path, every(10, 60, attempt))
    looping = finding(analysis, "auth-loop")
    sdk = analysis.clients.filter(pl.col("user_agent") == SDK)["client_id"].item()
    assert looping.clients == [sdk]
    assert any("/register" in e.text for e in looping.evidence)  # the discovery lines are its evidence


def test_the_legacy_stream_is_found_in_the_attempt_not_on_the_next_line(tmp_path: Path) -> None:
    """POST /sse 405, then GET /sse: the stream is written when it closes, after the POSTs it carried."""

    def attempt(t: float) -> list[Hit]:
        return [
            Hit(t, "POST", "/sse", 405, ua="node"),
            Hit(t + 0.2, "POST", "/messages", 202, ua="node"),
            Hit(t + 0.3, "POST", "/messages", 202, ua="node"),
            Hit(t + 0.5, "GET", "/sse", 200, ua="node", duration=0.45),
        ]

    analysis = run(tmp_path, every(10, 60, attempt))
    assert outcome(analysis) == "connected" and "legacy-transport-fallback" in codes(analysis)


def test_streams_cut_at_any_timeout_when_the_client_reopens_them(tmp_path: Path) -> None:
    """A proxy read timeout of 1.5 s: each session's stream ends at 1.5 s and is opened again. A client whose one
    stream a session ends when it leaves, at whatever length, is not cut."""

    def cut(t: float) -> list[Hit]:
        return [
            Hit(t, "POST", "/mcp", 200, ua="node"),
            Hit(t + 0.1, "POST", "/mcp", 202, ua="node"),
            Hit(t + 1.6, "GET", "/mcp", 200, ua="node", duration=1.5),
            Hit(t + 3.2, "GET", "/mcp", 200, ua="node", duration=1.5),
            Hit(t + 3.9, "GET", "/mcp", 200, ua="node", duration=0.6),
        ]

    def whole(t: float) -> list[Hit]:
        return [Hit(t, "POST", "/mcp", 200, ip="198.51.100.30"), Hit(t + 4, "GET", "/mcp", 200, ip="198.51.100.30", duration=3.9)]

    analysis = run(tmp_path, every(6, 60, cut) + every(6, 60, whole))
    cutting = finding(analysis, "stream-cut")
    assert cutting.clients == analysis.clients.filter(pl.col("user_agent") == "node")["client_id"].to_list()


def test_hsts_is_not_missing_from_a_response_never_sent(tmp_path: Path) -> None:
    """nginx logs 499 when the client went away first: no response, so no header to miss."""
    hits = every(
        5,
        60,
        lambda t: [*[Hit(t + i, "POST", "/mcp", s) for i, s in enumerate((200, 202, 200))], Hit(t + 4, "POST", "/mcp", 499, hsts=None)],
    )
    assert "hsts-missing" not in codes(run(tmp_path, hits))


def test_caddy_logs_a_redacted_authorization_as_an_empty_list(tmp_path: Path) -> None:
    """Caddy 2.6 (measured): `"Authorization":[]`. The header was sent; that is what counts."""
    line = {
        "level": "info",
        "ts": 1796165871.61,
        "logger": "http.log.access.log40",
        "msg": "handled request",
        "status": 200,
        "request": {
            "remote_ip": "127.110.2.21",
            "proto": "HTTP/1.1",
            "method": "POST",
            "host": "127.2.21.1",
            "uri": "/mcp",
            "headers": {"Authorization": [], "User-Agent": ["curl/7.88.1"]},
        },
        "duration": 0.05,
        "size": 273,
    }
    without = json.loads(json.dumps(line))
    del without["request"]["headers"]["Authorization"]
    path = tmp_path / "caddy.json"
    path.write_text(json.dumps(line) + "\n" + json.dumps(without) + "\n")
    assert read_logs([path]).requests["has_authorization"].to_list() == [True, False]


APACHE = '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D %p "%{Location}o" %{has_authorization}e'


def test_apache_custom_layout_flags_and_start_times(tmp_path: Path) -> None:
    """Apache's %t is when the request arrived: a 90 s stream is not moved 90 s back. `%{VAR}e` is read as $var,
    and the SetEnvIf flag has_authorization as the header's presence."""
    lines = [
        '127.0.0.9 - - [01/Dec/2026:23:00:00 +0000] "POST /mcp HTTP/1.1" 200 285 "-" "node" 21000 443 "-" 1',
        '127.0.0.9 - - [01/Dec/2026:23:00:00 +0000] "GET /mcp HTTP/1.1" 200 5 "-" "node" 90000000 443 "-" -',
    ]
    path = tmp_path / "apache.log"
    path.write_text("\n".join(lines) + "\n")
    analysis = analyze(path, FormatChoice(log_format=APACHE))
    requests = analysis.requests.sort("line")
    assert requests["has_authorization"].to_list() == [True, False]
    assert requests["scheme"].to_list() == ["https", "https"]  # %p 443
    assert (requests["start"] == requests["ts"]).all()
    assert analysis.ingest.inputs[0].format_detail["time_is"] == "start"
