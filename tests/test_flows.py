"""The seed case through the sessionizer: who is stuck, since when, and why, in every supported format."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from logscope import FormatChoice
from logscope.analysis import Analysis, analyze
from logscope.detectors import SERVER_LEVEL
from logscope.report.json_report import build_report

from .conftest import SAMPLES, run_cli, validate_report


def load_generator():
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sample_generate"] = module  # dataclasses look their module up while it runs
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


GEN = load_generator()
CUSTOM = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" '
    '$request_time $scheme "$sent_http_location"'
)


def write_traefik(path: Path) -> None:
    lines = []
    for r in GEN.requests:
        # Traefik records when a request started; the generator's times are when it was logged (its end).
        start = r.ts.timestamp() - r.duration
        rec = {
            "ClientHost": r.ip,
            "RequestMethod": r.method,
            "RequestPath": r.target,
            "RequestProtocol": r.protocol,
            "RequestScheme": "https" if r.https else "http",
            "RequestHost": GEN.HOST,
            "DownstreamStatus": r.status,
            "DownstreamContentSize": r.size,
            "Duration": round(r.duration * 1e9),
            "StartUTC": datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        if r.ua is not None:
            rec["request_User-Agent"] = r.ua
        if r.status in (301, 302, 307, 308):
            rec["downstream_Location"] = f"https://{GEN.HOST}{r.target}"
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")


def write_generic(path: Path) -> None:
    lines = [
        json.dumps(
            {
                "timestamp": r.ts.isoformat(),
                "client_ip": r.ip,
                "method": r.method,
                "uri": r.target,
                "status": str(r.status),
                "bytes": r.size,
                "duration": r.duration,
                "user_agent": r.ua or "",
                "scheme": "https" if r.https else "http",
            }
        )
        for r in GEN.requests
    ]
    path.write_text("\n".join(lines) + "\n")


def write_custom_nginx(path: Path) -> None:
    lines = []
    for r in GEN.requests:
        location = f"https://{GEN.HOST}{r.target}" if r.status in (301, 302, 307, 308) else "-"
        base = GEN.nginx_line(r)
        lines.append(f'{base} {r.duration:.3f} {"https" if r.https else "http"} "{location}"')
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def every_format(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Analysis]:
    d = tmp_path_factory.mktemp("formats")
    write_traefik(d / "traefik.json")
    write_generic(d / "generic.json")
    write_custom_nginx(d / "custom.log")
    return {
        "nginx combined": analyze(SAMPLES / "mcp-seed.access.log"),
        "caddy": analyze(SAMPLES / "mcp-seed.caddy.json"),
        "traefik": analyze(d / "traefik.json"),
        "json": analyze(d / "generic.json"),
        "nginx $scheme": analyze(d / "custom.log", FormatChoice(log_format=CUSTOM)),
    }


def outcomes(analysis: Analysis) -> pl.DataFrame:
    client_level = pl.col("failure_modes").list.eval(pl.element().filter(~pl.element().is_in(list(SERVER_LEVEL)))).list.sort()
    return analysis.clients.select(
        "ip",
        "user_agent",
        "outcome",
        "transport",
        "mcp_transport",
        "teardown",
        client_level.alias("failure_modes"),
        pl.col("stuck_since").dt.truncate("1s"),
    ).sort("ip", "user_agent", nulls_last=True)


def test_seed_facts(every_format: dict[str, Analysis]) -> None:
    analysis = every_format["nginx combined"]
    clients = analysis.clients
    stuck = clients.filter(pl.col("outcome") == "stuck")
    assert set(stuck["ip"]) == {"158.51.125.197", "54.67.34.241"}
    mcp_client = stuck.filter(pl.col("user_agent") == "MCP-Client/1.0").row(0, named=True)
    assert mcp_client["stuck_since"] == datetime(2026, 5, 20, 20, 20, 3, tzinfo=UTC)
    assert mcp_client["successful_attempts"] == 0
    assert {"/mcp", "/mcp/", "/sse", "/v1/mcp", "/messages", "/mcp/messages"} <= set(mcp_client["paths"])
    assert {"redirect-method-downgrade", "session-lost"} <= set(mcp_client["failure_modes"])
    sse = stuck.filter(pl.col("ip") == "54.67.34.241").row(0, named=True)
    assert sse["user_agent"] is None and sse["failed_attempts"] > 140 and sse["paths"] == ["/mcp/sse"]
    assert (sse["last_seen"] - sse["stuck_since"]).days >= 2
    assert sse["failure_modes"] == ["redirect-method-downgrade"]
    # The six HTTPS-only architectures (the fleet counts once per address) all connected, over HTTPS only.
    healthy = clients.filter(pl.col("outcome") == "connected")
    assert set(healthy["transport"]) == {"https-only"}
    assert {"ke/JS 0.64.2", "python-httpx/0.28.1"} <= set(healthy["user_agent"].drop_nulls())
    assert healthy.filter(pl.col("ip") == "52.151.51.77")["teardown"].to_list() == [True]
    assert healthy.filter(pl.col("ip") == "40.76.54.131")["mcp_transport"].to_list() == ["legacy-sse"]
    assert healthy.filter(pl.col("ip") == "102.132.201.18")["mcp_transport"].to_list() == ["streamable-http+stream"]
    # Nobody else is called stuck, failing or degraded: browsers, crawlers and scanners are not MCP clients.
    assert set(clients["outcome"].unique()) == {"stuck", "connected", "not-mcp"}
    assert clients.filter(pl.col("user_agent").str.contains("Googlebot|Chrome|Firefox|Uptime"))["outcome"].unique().to_list() == ["not-mcp"]


def test_transport_inferred_from_combined_matches_logged(every_format: dict[str, Analysis]) -> None:
    combined, caddy = every_format["nginx combined"], every_format["caddy"]
    assert combined.flows.server.redirects_http and combined.flows.server.evidence == "inferred"
    assert caddy.flows.server.evidence == "logged"
    assert combined.flows.server.status_codes == caddy.flows.server.status_codes == {301: 1111}
    assert combined.flows.server.methods == caddy.flows.server.methods
    assert set(combined.clients["transport_evidence"].unique()) == {"inferred"}
    stuck = combined.clients.filter(pl.col("outcome") == "stuck")
    assert set(stuck["transport"]) == {"starts-http"}


@pytest.mark.parametrize("name", ["caddy", "traefik", "json", "nginx $scheme"])
def test_every_format_gives_the_same_outcomes(every_format: dict[str, Analysis], name: str) -> None:
    expected = outcomes(every_format["nginx combined"])
    got = outcomes(every_format[name])
    assert got.height == expected.height
    assert got.drop("stuck_since").equals(expected.drop("stuck_since"))
    # Whole-second log times (minus a logged duration) can move a start by under a second.
    drift = (got["stuck_since"] - expected["stuck_since"]).dt.total_milliseconds().abs()
    assert got["stuck_since"].is_null().equals(expected["stuck_since"].is_null())
    assert (drift.drop_nulls() <= 1000).all()


def test_findings_are_the_same_in_every_format(every_format: dict[str, Analysis]) -> None:
    reference = {(f.code, f.severity, tuple(f.clients)) for f in every_format["nginx combined"].findings if f.code not in SERVER_LEVEL}
    for name, analysis in every_format.items():
        got = {(f.code, f.severity, tuple(f.clients)) for f in analysis.findings if f.code not in SERVER_LEVEL}
        assert got == reference, name
    assert ("redirect-method-downgrade", "critical") in {(c, s) for c, s, _ in reference}


def test_reports_match_the_schema(every_format: dict[str, Analysis]) -> None:
    for analysis in every_format.values():
        validate_report(build_report(analysis))


@pytest.mark.slow
def test_fail_on_and_json_report_from_cli(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    failing = run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--fail-on", "critical", "--json", str(out))
    assert failing.returncode == 1, failing.stderr
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["totals"]["stuck_clients"] == 2
    first = report["clients"][0]
    assert first["outcome"] == "stuck" and first["user_agent"] == "MCP-Client/1.0" and first["stuck_since"] == "2026-05-20T20:20:03Z"
    finding = report["findings"][0]
    assert finding["fix"]["nginx"].count("return 308 https://$host$request_uri;") == 1
    assert list(finding["fix"])[:4] == ["nginx", "caddy", "traefik", "apache"]  # the log's own server first, then the others
    assert {"haproxy", "aws-alb", "cloudflare"} <= set(finding["fix"])  # and the edges'
    assert "answered_by" not in finding  # nginx's log cannot say who sent the redirect
    assert finding["evidence"][0]["ref"].endswith("mcp-seed.access.log:1565")
    assert "Stuck clients (2)" in failing.stdout and "fix: redirect with 308" in failing.stdout
    fine = run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--fail-on", "critical", "--stuck-after", "1000", "-q")
    assert fine.returncode == 1  # the downgrade is still critical: its clients are failing
    assert run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--fail-on", "bogus").returncode == 2


def test_stuck_after_and_attempt_gap_options() -> None:
    from logscope.flows import FlowOptions

    relaxed = analyze(SAMPLES / "mcp-seed.access.log", options=FlowOptions(stuck_after=200))
    outcome = dict(relaxed.clients.select("ip", "outcome").iter_rows())
    assert outcome["54.67.34.241"] == "failing" and outcome["158.51.125.197"] == "stuck"
    # One long gap makes the whole /mcp/sse loop one attempt.
    merged = analyze(SAMPLES / "mcp-seed.access.log", options=FlowOptions(attempt_gap_s=3 * 3600))
    row = merged.clients.filter(pl.col("ip") == "54.67.34.241").row(0, named=True)
    assert row["attempts"] == 1 and row["outcome"] == "failing"


def test_endpoint_option_replaces_the_defaults() -> None:
    from logscope.flows import FlowOptions

    only_sse = analyze(SAMPLES / "mcp-seed.access.log", options=FlowOptions(endpoints=("/mcp/sse",)))
    mcp = only_sse.clients.filter(pl.col("outcome") != "not-mcp")
    assert mcp["ip"].to_list() == ["54.67.34.241"]


def test_client_keys_number_pairs_in_order_of_first_appearance(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client is an (IP, User-Agent) pair, told apart by the two columns' codes: null and "" are different
    agents, a null address is its own value, and the numbers follow first appearance."""
    import polars as pl

    from logscope.flows import keys
    from logscope.flows.keys import _client_keys
    from logscope.schema import CODED

    ips = ["1.1.1.1", "1.1.1.1", "2.2.2.2", None, "1.1.1.1", None, "2.2.2.2", "3.3.3.3", "1.1.1.1"]
    uas = ["a", None, "a", "a", "a", None, "", "b", None]
    frame = pl.DataFrame({"client_ip": ips, "user_agent": uas}, schema={"client_ip": CODED, "user_agent": CODED})
    assert _client_keys(frame).to_list() == [0, 1, 2, 3, 0, 4, 5, 6, 1]
    # Codes too large to pack into one integer take the two-column join, which must agree.
    monkeypatch.setattr(keys, "_PACKABLE", 0)
    assert _client_keys(frame).to_list() == [0, 1, 2, 3, 0, 4, 5, 6, 1]


# mcp-remote 0.15.1 as the lab measured it: a GET to the URL as `undici`, OAuth discovery and a second GET
# as `node` (the server never asked for authorization: 404, 400), then it connects as `undici`.
MCP_REMOTE = [
    ("GET", "/mcp", 400, "undici"),
    ("GET", "/.well-known/oauth-protected-resource/mcp", 404, "node"),
    ("GET", "/.well-known/oauth-protected-resource", 404, "node"),
    ("GET", "/.well-known/oauth-authorization-server/mcp", 404, "node"),
    ("GET", "/.well-known/oauth-authorization-server", 404, "node"),
    ("GET", "/.well-known/openid-configuration/mcp", 404, "node"),
    ("GET", "/mcp/.well-known/openid-configuration", 404, "node"),
    ("GET", "/mcp", 400, "node"),
    ("POST", "/mcp", 200, "undici"),
    ("POST", "/mcp", 202, "undici"),
    ("GET", "/mcp", 200, "undici"),
    ("POST", "/mcp", 200, "undici"),
]


def write_attempts(path: Path, attempts: int, requests: list[tuple[str, str, int, str]], ip: str = "203.0.113.5") -> Path:
    """`requests` once per attempt, attempts a minute apart (past the 30 s gap), in nginx's combined layout."""
    lines = []
    for n in range(attempts):
        for method, target, status, agent in requests:
            lines.append(f'{ip} - - [05/Dec/2026:10:{n:02d}:00 +0000] "{method} {target} HTTP/1.1" {status} 0 "-" "{agent}"\n')
    path.write_text("".join(lines))
    return path


def test_a_discovery_probe_is_no_attempt_and_its_user_agent_no_mcp_client(tmp_path: Path) -> None:
    """mcp-remote's `node` half only probes (discovery and GET, no POST, no 401): it was reported stuck, 12
    failed attempts, while the program connected every time. Probing is no connection attempt."""
    clients = analyze(write_attempts(tmp_path / "remote.log", 12, MCP_REMOTE)).clients
    by_agent = {row["user_agent"]: row for row in clients.iter_rows(named=True)}
    assert by_agent["node"]["outcome"] == "not-mcp" and by_agent["node"]["attempts"] == 0
    assert by_agent["undici"]["outcome"] == "connected" and by_agent["undici"]["attempts"] == 12


@pytest.mark.parametrize(
    ("requests", "outcome"),
    [
        # The server asks for authorization (401): discovery is part of connecting, and it never connects.
        ([("GET", "/mcp", 401, "node"), ("GET", "/.well-known/oauth-protected-resource", 404, "node")], "stuck"),
        # A legacy SSE client after discovery: its stream is refused, a failed attempt.
        ([("GET", "/.well-known/oauth-protected-resource", 404, "x"), ("GET", "/sse", 404, "x")], "stuck"),
        # A POST after discovery decides as always.
        ([("GET", "/.well-known/oauth-protected-resource", 404, "x"), ("POST", "/mcp", 400, "x")], "stuck"),
        # A GET without discovery (a POST redirected and followed as GET, its POST in another log) still fails.
        ([("GET", "/mcp", 400, "x")], "stuck"),
    ],
    ids=["asked-401", "legacy-sse", "posted", "no-discovery"],
)
def test_what_is_no_discovery_probe_still_counts(tmp_path: Path, requests: list, outcome: str) -> None:
    clients = analyze(write_attempts(tmp_path / "x.log", 12, requests)).clients
    assert clients.height == 1 and clients["outcome"][0] == outcome and clients["attempts"][0] == 12


def test_mcp_headers_where_logged_say_stateless_or_session_and_no_session_id_is_kept(tmp_path: Path) -> None:
    """A JSON log with the MCP request headers (an nginx layout with $http_mcp_method …): the stateless revision
    (server/discover, 2026-07-28, no session) and a session client, each from what it sent; of Mcp-Session-Id
    only whether it was sent."""
    rows = []
    for n in range(3):
        at = f"2026-12-05T10:0{n}:00Z"
        common = {"time": at, "request": "POST /mcp HTTP/1.1", "status": 200}
        rows += [
            {**common, "remote_addr": "198.51.100.1", "http_user_agent": "python-httpx2/2.17.0", "mcp_method": "server/discover",
             "mcp_protocol_version": "2026-07-28", "mcp_session_id": ""},
            {**common, "remote_addr": "198.51.100.1", "http_user_agent": "python-httpx2/2.17.0", "mcp_method": "tools/list",
             "mcp_protocol_version": "2026-07-28", "mcp_session_id": ""},
            {**common, "remote_addr": "198.51.100.2", "http_user_agent": "node", "mcp_method": "initialize"},
            {**common, "remote_addr": "198.51.100.2", "http_user_agent": "node", "mcp_method": "tools/list",
             "mcp_protocol_version": "2025-11-25", "mcp_session_id": "secret-session-7f3a"},
        ]  # fmt: skip
    log = tmp_path / "mcp-headers.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    analysis = analyze(log)
    got = {r["ip"]: (r["session"], r["session_evidence"]) for r in analysis.clients.iter_rows(named=True)}
    assert got == {"198.51.100.1": ("stateless", "logged"), "198.51.100.2": ("session", "logged")}
    assert analysis.ingest.requests["mcp_session"].to_list() == [False, False, False, True] * 3
    assert "secret-session-7f3a" not in json.dumps(build_report(analysis), default=str)
    assert "secret-session-7f3a" not in str(analysis.ingest.requests.to_dicts())
