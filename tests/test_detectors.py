"""Every detector fires on its failure and stays silent on the healthy look-alike.

Scenarios are written as real log lines (a full nginx log_format, or plain combined where the scheme
must be inferred) and go through the whole pipeline: parse, flows, detectors, report schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from logscope import FormatChoice
from logscope.analysis import Analysis, analyze
from logscope.report.json_report import build_report

from .conftest import same_report, validate_report

T0 = datetime(2026, 5, 20, 20, 20, tzinfo=UTC)
GOOD_HSTS = "max-age=31536000; includeSubDomains"
FULL = (
    '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent "$http_user_agent" $scheme $request_time '
    '"$sent_http_location" "$sent_http_strict_transport_security" "$http_authorization"'
)


@dataclass
class Hit:
    """One request of a scenario; `t` in seconds from T0."""

    t: float
    method: str
    path: str
    status: int
    ip: str = "198.51.100.10"
    ua: str | None = "python-httpx/0.28.1"
    scheme: str = "https"
    location: str | None = None
    hsts: str | None = GOOD_HSTS
    auth: bool = False
    duration: float = 0.02


def full_line(h: Hit) -> str:
    ts = (T0 + timedelta(seconds=h.t)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    hsts = h.hsts if h.scheme == "https" else None
    return (
        f'{h.ip} [{ts}] "{h.method} {h.path} HTTP/1.1" {h.status} 42 "{h.ua or "-"}" {h.scheme} {h.duration:.3f} '
        f'"{h.location or "-"}" "{hsts or "-"}" "{"Bearer abc123" if h.auth else "-"}"'
    )


def combined_line(h: Hit) -> str:
    ts = (T0 + timedelta(seconds=h.t)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{h.ip} - - [{ts}] "{h.method} {h.path} HTTP/1.1" {h.status} 42 "-" "{h.ua or "-"}"'


def run(tmp_path: Path, hits: list[Hit], layout: str = "full") -> Analysis:
    path = tmp_path / f"{layout}.log"
    write = full_line if layout == "full" else combined_line
    path.write_text("".join(write(h) + "\n" for h in sorted(hits, key=lambda h: h.t)))
    choice = FormatChoice(log_format=FULL) if layout == "full" else None
    analysis = analyze(path, choice)
    report = build_report(analysis)
    validate_report(report)
    # Read in shards of clients (as logs larger than memory are), the scenario gives the same report.
    assert same_report(report, build_report(analyze(path, choice, shards=3)))
    return analysis


def codes(analysis: Analysis) -> set[str]:
    return {f.code for f in analysis.findings}


def finding(analysis: Analysis, code: str):
    return next(f for f in analysis.findings if f.code == code)


def outcome(analysis: Analysis, ip: str = "198.51.100.10") -> str:
    return analysis.clients.filter(pl.col("ip") == ip)["outcome"].item()


def every(n: int, gap: float, make) -> list[Hit]:
    return [h for i in range(n) for h in make(i * gap)]


def healthy_session(t: float, **kw) -> list[Hit]:
    return [Hit(t, "POST", "/mcp", 200, **kw), Hit(t + 0.3, "POST", "/mcp", 202, **kw), Hit(t + 1, "POST", "/mcp", 200, **kw)]


# --- the seed case and its look-alikes ---------------------------------------------------------------


def downgrade(t: float, code: int = 301, follow: int = 400) -> list[Hit]:
    return [
        Hit(t, "POST", "/mcp", code, scheme="http", location="https://mcp.example.net/mcp"),
        Hit(t + 0.3, "GET", "/mcp", follow),
    ]


@pytest.mark.parametrize("layout", ["full", "combined"])
@pytest.mark.parametrize("code", [301, 302, 303])
def test_redirect_method_downgrade(tmp_path: Path, layout: str, code: int) -> None:
    analysis = run(tmp_path, every(12, 120, lambda t: downgrade(t, code)), layout)
    f = finding(analysis, "redirect-method-downgrade")
    assert f.severity == "critical" and f.count == 12 and len(f.clients) == 1
    assert outcome(analysis) == "stuck"
    assert "return 308 https://$host$request_uri;" in f.fix["nginx"]
    assert [e.text.split('"')[1] for e in f.evidence[:2]] == ["POST /mcp", "GET /mcp"]
    client = analysis.clients.row(0, named=True)
    # Since when: the start of the first failed attempt. The log has whole seconds, so its 0.02 s duration
    # moves nothing (only whole seconds of a duration are taken off a whole-second time).
    assert client["stuck_since"] == T0
    assert client["transport"] == "starts-http"
    assert client["transport_evidence"] == ("logged" if layout == "full" else "inferred")


def test_browser_get_redirect_is_not_a_downgrade(tmp_path: Path) -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0"
    hits = every(12, 300, lambda t: [Hit(t, "GET", "/", 301, ua=ua), Hit(t + 0.3, "GET", "/", 200, ua=ua)])
    analysis = run(tmp_path, hits, "combined")
    assert "redirect-method-downgrade" not in codes(analysis)
    assert outcome(analysis) == "not-mcp"
    # Preventive: the server's HTTP -> HTTPS redirect is a 301, which would break a POST.
    assert finding(analysis, "unsafe-post-redirect").severity == "low"
    assert analysis.flows.server.redirects_http is True and analysis.flows.server.methods == {"GET": 12}


def test_fixed_server_308_keeps_the_post(tmp_path: Path) -> None:
    hits = every(
        12, 120, lambda t: [Hit(t, "POST", "/mcp", 308, scheme="http", location="https://mcp.example.net/mcp"), *healthy_session(t + 0.2)]
    )
    analysis = run(tmp_path, hits)
    assert not codes(analysis) & {"redirect-method-downgrade", "unsafe-post-redirect", "redirect-not-followed"}
    assert outcome(analysis) == "connected"
    assert analysis.clients["transport"].item() == "starts-http"
    assert analysis.flows.server.status_codes == {308: 12}


def test_unsafe_post_redirect_before_anyone_fails(tmp_path: Path) -> None:
    # A stateless server opens a stream for the downgraded GET: nothing fails yet, the redirect is still wrong.
    hits = every(
        3,
        120,
        lambda t: [Hit(t, "POST", "/mcp", 302, scheme="http", location="https://mcp.example.net/mcp"), Hit(t + 0.3, "GET", "/mcp", 200)],
    )
    analysis = run(tmp_path, hits)
    assert "redirect-method-downgrade" not in codes(analysis)
    f = finding(analysis, "unsafe-post-redirect")
    assert f.severity == "medium" and f.count == 3 and f.clients == []


def test_redirect_not_followed(tmp_path: Path) -> None:
    java = "Java-http-client/21.0.2"
    hits = every(12, 120, lambda t: [Hit(t, "POST", "/mcp", 301, ua=java, scheme="http", location="https://mcp.example.net/mcp")])
    analysis = run(tmp_path, hits)
    f = finding(analysis, "redirect-not-followed")
    assert f.severity == "high" and f.count == 12
    assert outcome(analysis) == "stuck"
    followed = run(
        tmp_path,
        every(
            12,
            120,
            lambda t: [Hit(t, "POST", "/mcp", 307, scheme="http", location="https://mcp.example.net/mcp"), *healthy_session(t + 0.2)],
        ),
    )
    assert "redirect-not-followed" not in codes(followed)


def test_trailing_slash_redirect(tmp_path: Path) -> None:
    hits = every(
        5, 120, lambda t: [Hit(t, "POST", "/mcp", 307, location="https://mcp.example.net/mcp/"), Hit(t + 0.1, "POST", "/mcp/", 404)]
    )
    analysis = run(tmp_path, hits)
    f = finding(analysis, "trailing-slash-redirect")
    assert f.severity == "medium" and f.count == 5
    healthy = run(tmp_path, every(5, 120, healthy_session))
    assert "trailing-slash-redirect" not in codes(healthy)


# --- inside a connection -----------------------------------------------------------------------------


def test_session_lost(tmp_path: Path) -> None:
    hits = every(12, 120, lambda t: [Hit(t, "POST", "/mcp", 200), Hit(t + 0.4, "POST", "/mcp", 404)])
    analysis = run(tmp_path, hits)
    assert finding(analysis, "session-lost").count == 12
    assert outcome(analysis) == "stuck"  # initialize works, the next request fails, every time
    assert "session-lost" not in codes(run(tmp_path, every(12, 120, healthy_session)))


def test_stream_asked_for_before_the_session_is_no_lost_session(tmp_path: Path) -> None:
    """The Vercel AI SDK against the TypeScript SDK server (lab, healthy-ts, apache): its GET stream goes out
    while initialize is in flight, so the log can show the initialize's 200 before the GET's 400."""
    ua = "ai-sdk/2.0.99 node.js/v20.20.2"
    race = every(
        6,
        140,
        lambda t: [
            Hit(t, "POST", "/mcp", 400, ua=ua),  # server/discover, which this server does not speak
            Hit(t + 0.1, "POST", "/mcp", 200, ua=ua),
            Hit(t + 0.2, "GET", "/mcp", 400, ua=ua),
            Hit(t + 0.3, "POST", "/mcp", 202, ua=ua),
            Hit(t + 0.4, "POST", "/mcp", 200, ua=ua),
            Hit(t + 0.5, "DELETE", "/mcp", 200, ua=ua),
        ],
    )
    analysis = run(tmp_path, race)
    assert "session-lost" not in codes(analysis) and outcome(analysis) == "connected"
    # The same order with the POST refused is a lost session (an older Python SDK server's 400).
    lost = every(6, 140, lambda t: [Hit(t, "POST", "/mcp", 200), Hit(t + 0.2, "POST", "/mcp", 400)])
    assert finding(run(tmp_path, lost), "session-lost").count == 6


def test_get_405_after_a_followed_slash_redirect_is_the_downgrade(tmp_path: Path) -> None:
    """Mastra follows nginx's 301 to /mcp/ as GET (measured): the 405 that answers it is the downgrade's,
    not a method the endpoint refuses."""
    hits = every(
        6,
        140,
        lambda t: [Hit(t, "POST", "/mcp", 301, ua="node"), Hit(t + 0.1, "GET", "/mcp/", 405, ua="node")],
    )
    found = codes(run(tmp_path, hits, layout="combined"))
    assert "redirect-method-downgrade" in found and "method-not-allowed" not in found


def test_discovery_under_the_endpoint_path_is_discovery(tmp_path: Path) -> None:
    """mcp-remote asks for /sse/.well-known/openid-configuration (measured): a 404 there is no failed
    endpoint request, so the attempt that then connects over /sse is no lost session."""
    hits = every(
        6,
        140,
        lambda t: [
            Hit(t, "GET", "/sse", 200, ua="node", duration=0.5),
            Hit(t + 0.1, "GET", "/sse/.well-known/openid-configuration", 404, ua="node"),
            Hit(t + 0.2, "GET", "/.well-known/oauth-authorization-server/sse", 404, ua="node"),
            Hit(t + 0.3, "POST", "/messages/?session_id=ab12", 202, ua="node"),
        ],
    )
    analysis = run(tmp_path, hits)
    assert "session-lost" not in codes(analysis) and outcome(analysis) == "connected"
    roles = dict(zip(analysis.requests["path"].cast(pl.String), analysis.requests["role"].cast(pl.String), strict=False))
    assert roles["/sse/.well-known/openid-configuration"] == "auth" and roles["/sse"] == "endpoint"


def test_get_405_then_post_works_is_healthy(tmp_path: Path) -> None:
    hits = every(
        12,
        120,
        lambda t: [
            Hit(t, "POST", "/mcp", 200),
            Hit(t + 0.3, "GET", "/mcp", 405),
            Hit(t + 0.6, "POST", "/mcp", 200),
            Hit(t + 0.9, "GET", "/mcp", 405),
        ],
    )
    analysis = run(tmp_path, hits)
    assert "method-not-allowed" not in codes(analysis)
    assert outcome(analysis) == "connected"
    assert analysis.clients["mcp_transport"].item() == "streamable-http"


@pytest.mark.parametrize(
    ("code", "status"), [("not-acceptable", 406), ("unsupported-media-type", 415), ("forbidden", 403), ("method-not-allowed", 405)]
)
def test_refusals(tmp_path: Path, code: str, status: int) -> None:
    analysis = run(tmp_path, every(12, 120, lambda t: [Hit(t, "POST", "/mcp", status)]))
    f = finding(analysis, code)
    assert f.severity == "high" and f.count == 12 and outcome(analysis) == "stuck"
    assert code not in codes(run(tmp_path, every(12, 120, healthy_session)))


def test_stream_cut(tmp_path: Path) -> None:
    # The stream is cut at 60 s while the session goes on: the client opens it again at once and keeps working.
    cut = every(
        6,
        400,
        lambda t: [
            *healthy_session(t),
            Hit(t + 61, "GET", "/mcp", 200, duration=60.0 + (t % 3) * 0.4),
            Hit(t + 70, "POST", "/mcp", 200),
            Hit(t + 100, "GET", "/mcp", 200, duration=38.0 - (t % 3) * 0.4),
        ],
    )
    assert finding(run(tmp_path, cut), "stream-cut").count == 6
    # A stream that outlives a client which already left, ended at 60 s by the proxy, hurt nobody: Caddy 2.6 and
    # Apache log the TypeScript SDK's abandoned streams so (the lab, docs/lab.md).
    outlived = every(6, 400, lambda t: [*healthy_session(t), Hit(t + 61, "GET", "/mcp", 200, duration=60.0 + (t % 3) * 0.4)])
    assert "stream-cut" not in codes(run(tmp_path, outlived))
    # Streams that end when the session is over, at varied lengths, are normal.
    lengths = [12.0, 27.5, 41.0, 83.0, 140.0, 210.0]  # none near 60 s, 100-125 s or 300 s
    normal = every(
        6, 400, lambda t: [*healthy_session(t), Hit(t + 1 + lengths[int(t // 400)], "GET", "/mcp", 200, duration=lengths[int(t // 400)])]
    )
    analysis = run(tmp_path, normal)
    assert "stream-cut" not in codes(analysis)
    assert analysis.clients["mcp_transport"].item() == "streamable-http+stream"


def test_stream_cut_needs_durations(tmp_path: Path) -> None:
    cut = every(6, 400, lambda t: [*healthy_session(t), Hit(t + 61, "GET", "/mcp", 502, duration=60.0)])
    analysis = run(tmp_path, cut, "combined")
    assert "stream-cut" not in codes(analysis)
    assert "$request_time" in finding(analysis, "log-field-missing").title


def test_legacy_transport_fallback(tmp_path: Path) -> None:
    hits = every(
        3,
        600,
        lambda t: [
            Hit(t, "POST", "/mcp", 404),
            Hit(t + 0.5, "GET", "/sse", 200, duration=0.4),
            Hit(t + 1, "POST", "/messages/?session_id=ab12", 202),
        ],
    )
    analysis = run(tmp_path, hits)
    assert finding(analysis, "legacy-transport-fallback").count == 3
    assert analysis.clients["mcp_transport"].item() == "legacy-sse"
    assert "legacy-transport-fallback" not in codes(run(tmp_path, every(3, 600, healthy_session)))


def test_reconnect_storm(tmp_path: Path) -> None:
    # 40 attempts 35 s apart from 20:20: all in the clock hour 20:00-21:00.
    storm = run(tmp_path, every(40, 35, lambda t: [Hit(t, "POST", "/mcp", 500)]))
    assert finding(storm, "reconnect-storm").count == 40
    calm = run(tmp_path, every(12, 600, lambda t: [Hit(t, "POST", "/mcp", 500)]))
    assert "reconnect-storm" not in codes(calm) and outcome(calm) == "stuck"


def test_reconnect_storm_peaks_by_clock_hour_and_minute(tmp_path: Path) -> None:
    # From 20:56:10, 40 attempts 40 s apart: 6 fall before 21:00, 34 after; the peak is the busier hour.
    across = run(tmp_path, every(40, 40, lambda t: [Hit(36 * 60 + 10 + t, "POST", "/mcp", 500)]))
    assert finding(across, "reconnect-storm").count == 34
    # One attempt of 70 answered requests half a second apart, within the minute 20:20: a storm by the minute.
    burst = run(tmp_path, every(70, 0.5, lambda t: [Hit(t, "POST", "/mcp", 200)]))
    assert "up to 70 endpoint requests in one minute" in finding(burst, "reconnect-storm").detail
    steady = run(tmp_path, every(50, 1, lambda t: [Hit(t, "POST", "/mcp", 200)]))
    assert "reconnect-storm" not in codes(steady) and outcome(steady) == "connected"


# --- OAuth -------------------------------------------------------------------------------------------


def oauth(t: float, token_status: int = 200, then: int | None = 200) -> list[Hit]:
    hits = [
        Hit(t, "POST", "/mcp", 401),
        Hit(t + 0.2, "GET", "/.well-known/oauth-protected-resource/mcp", 200),
        Hit(t + 0.4, "GET", "/.well-known/oauth-authorization-server", 200),
        Hit(t + 0.6, "POST", "/register", 201),
        Hit(t + 9, "POST", "/token", token_status),
    ]
    return hits + ([Hit(t + 9.5, "POST", "/mcp", then, auth=True)] if then is not None else [])


def test_auth_loop(tmp_path: Path) -> None:
    analysis = run(tmp_path, every(4, 1800, lambda t: oauth(t, token_status=400, then=401)))
    assert finding(analysis, "auth-loop").severity == "high"
    healthy = run(tmp_path, every(4, 1800, oauth))
    assert not codes(healthy) & {"auth-loop", "auth-abandoned"}
    assert outcome(healthy) == "connected"


def test_auth_abandoned(tmp_path: Path) -> None:
    analysis = run(tmp_path, every(3, 1800, lambda t: oauth(t, then=None)))
    assert finding(analysis, "auth-abandoned").count == 3


# --- transport security (the second seed) ------------------------------------------------------------


@pytest.mark.slow
def test_hsts_missing_weak_and_over_http(tmp_path: Path) -> None:
    missing = run(tmp_path, every(3, 120, lambda t: healthy_session(t, hsts=None)))
    assert finding(missing, "hsts-missing").severity == "high"
    short = run(tmp_path, every(3, 120, lambda t: healthy_session(t, hsts="max-age=3600")))
    f = finding(short, "hsts-weak")
    assert f.severity == "high" and "includeSubDomains is missing" in f.detail
    no_subdomains = run(tmp_path, every(3, 120, lambda t: healthy_session(t, hsts="max-age=31536000")))
    assert finding(no_subdomains, "hsts-weak").severity == "medium"
    good = run(tmp_path, every(3, 120, healthy_session))
    assert not codes(good) & {"hsts-missing", "hsts-weak", "hsts-over-http"}
    path = tmp_path / "over-http.log"
    path.write_text(
        full_line(Hit(0, "GET", "/", 301, scheme="http", location="https://x/")).replace('"-" "-"', f'"{GOOD_HSTS}" "-"') + "\n"
    )
    assert "hsts-over-http" in codes(analyze(path, FormatChoice(log_format=FULL)))


def test_hsts_is_not_judged_without_response_headers(tmp_path: Path) -> None:
    analysis = run(tmp_path, every(3, 120, lambda t: healthy_session(t, hsts=None)), "combined")
    assert "hsts-missing" not in codes(analysis)
    assert "$sent_http_strict_transport_security" in finding(analysis, "log-field-missing").title


def test_cleartext_credentials_and_http_served(tmp_path: Path) -> None:
    analysis = run(tmp_path, every(3, 120, lambda t: healthy_session(t, scheme="http", auth=True)))
    assert finding(analysis, "cleartext-credentials").severity == "critical"
    assert finding(analysis, "http-served").count == 9
    query = run(tmp_path, [Hit(0, "GET", "/sse?access_token=abc", 200, scheme="http")])
    assert "cleartext-credentials" in codes(query)
    safe = run(tmp_path, every(3, 120, lambda t: healthy_session(t, auth=True)))
    assert not codes(safe) & {"cleartext-credentials", "http-served"}


def test_full_log_format_needs_no_coverage_note(tmp_path: Path) -> None:
    analysis = run(tmp_path, every(3, 120, healthy_session))
    assert analysis.findings == []
    assert outcome(analysis) == "connected"


def test_every_finding_code_is_declared_once_in_the_model_with_its_fixes() -> None:
    """Detectors declare their codes when they register; each code is in docs/model.md, and has its fixes in
    data/fixes.toml unless its finding writes the fix for the log at hand."""
    from logscope.detectors import DETECTORS, SERVER_LEVEL, fixes

    codes = [c for d in DETECTORS for c in d.codes]
    assert len(codes) == len(set(codes)) and set(codes) >= SERVER_LEVEL
    model = (Path(__file__).resolve().parent.parent / "docs" / "model.md").read_text()
    own_fix = {"log-field-missing", "proxy-in-front"}
    for code in [*codes, "initialize-refused"]:  # and the one `logscope check` alone reports
        assert f"`{code}`" in model, code
        assert code in fixes() or code in own_fix, code
    assert set(fixes()) <= {*codes, "initialize-refused"}  # no fix for a code nothing reports
