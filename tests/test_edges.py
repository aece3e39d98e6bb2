"""Behind the edge (issue 23): the logs HAProxy, Envoy, the AWS load balancers, CloudFront, Cloudflare, Google
Cloud, Azure and IIS write, read with no option; who answered each request; the fix of that edge first.

Real logs these systems wrote are in tests/edges/ (sources and licences in tests/edges/SOURCES.md). The seed's
story is also written as each edge logs it (sample_logs/generate.py, `write_edges`), the 301 answered by the edge
itself: it must give the same clients, outcomes, failure modes and transport as the nginx log of the story.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from logscope import FormatChoice, read_logs
from logscope.analysis import Analysis, analyze
from logscope.detectors import SERVER_LEVEL
from logscope.flows import FlowOptions
from logscope.report.json_report import build_report

from .conftest import ROOT, SAMPLES, physical_lines, run_cli, validate_report
from .test_flows import GEN

EDGES = ROOT / "tests" / "edges"
DIRECTIVE = "W3C directive (#Fields, #Version, #Software, #Date)"

#: file -> (format, edge, rejected reasons, non-request records by kind)
REAL = {
    "crowdsec_hub_aws_alb.log": ("aws-alb", "aws-alb", {}, {}),
    "crowdsec_hub_aws_cloudfront.log": ("cloudfront", "cloudfront", {}, {}),
    "crowdsec_hub_envoy_gateway_cri.log": ("envoy", "envoy", {}, {}),
    "lnav_cloudflare.json": ("cloudflare", "cloudflare", {}, {}),
    "lnav_haproxy_syslog.log": (
        "haproxy",
        "haproxy",
        {},
        {
            "HAProxy event (a proxy or server started, stopped or changed state)": 3,
            "HAProxy TLS or connection error (no request was made)": 1,
        },
    ),
    "debian_haproxy_2.6_frontends.log": (
        "haproxy",
        "haproxy",
        {},
        {"HAProxy TCP connection (tcplog: no HTTP request)": 1, "HAProxy TLS or connection error (no request was made)": 1},
    ),
    **{
        f"debian_haproxy_2.6_format_{f}.log": ("haproxy", "haproxy", {}, {})
        for f in ("rfc5424", "rfc3164", "short", "priority", "iso", "timed")
    },
    "debian_haproxy_2.6_thread_clocks.log": ("haproxy", "haproxy", {}, {}),
    "lnav_w3c_iis_8_5.log": ("w3c", "iis", {}, {DIRECTIVE: 4}),
    "lnav_w3c_http_server_api.log": ("w3c", "iis", {}, {DIRECTIVE: 4}),
    "lnav_w3c_iis_advanced_logging.log": ("w3c", "iis", {"blank line": 3}, {DIRECTIVE: 4}),
}


def test_every_edge_fixture_is_covered() -> None:
    on_disk = {p.name for p in EDGES.iterdir() if p.name != "SOURCES.md"}
    assert on_disk == set(REAL), "an edge fixture was added or removed: give it an expectation here"
    sources = (EDGES / "SOURCES.md").read_text()
    assert all(name in sources for name in REAL), "each fixture's source and licence is recorded"


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_edge_log_is_read_with_no_option(name: str) -> None:
    family, edge, reasons, records = REAL[name]
    path = EDGES / name
    ingest = read_logs([path])
    report = ingest.inputs[0]
    assert (report.format, report.format_detail.get("edge")) == (family, edge)
    assert report.lines == physical_lines(path) == report.parsed + report.rejected + report.non_request
    assert report.rejected_reasons == reasons
    assert report.non_request_kinds == records
    frame = ingest.requests
    assert frame.height == report.parsed > 0
    assert frame["ts"].null_count() == 0 and frame["status"].is_between(0, 999).all()
    assert frame["method"].null_count() == 0 and frame["path"].null_count() == 0


def rows(path: Path, **kw: object) -> list[dict]:
    return read_logs([path], **kw).requests.sort("line").to_dicts()  # type: ignore[arg-type]


def test_alb_redirect_waf_and_url_fields() -> None:
    got = rows(EDGES / "crowdsec_hub_aws_alb.log")
    first, waf = got[0], got[3]
    # The scheme, host and port come from the absolute URL AWS logs; the port is dropped from the client.
    assert (first["scheme"], first["host"], first["server_port"], first["path"], first["client_ip"]) == (
        "http",
        "www.example.com",
        80,
        "/",
        "1.2.3.4",
    )
    assert first["answered_by"] == "origin" and first["user_agent"] == "curl/7.46.0"
    # CrowdSec edited the first three lines' request_creation_time to five years before their `time`: no request
    # takes that long, so they are read by the older layout, whose time is `time` (the story's ALB log below has
    # the load balancer's redirects). actions_executed "waf,fixed-response": the load balancer answered itself.
    assert first["ts"].isoformat() == "2023-04-26T12:22:55.463821+00:00"
    assert waf["answered_by"] == "edge" and waf["status"] == 404
    # `time` (the response leaving) orders the line; less request_creation_time (the start), it is the duration.
    assert waf["ts"].isoformat() == "2023-04-26T19:53:46.679895+00:00" and waf["duration_s"] == pytest.approx(0.001895)


def test_haproxy_syslog_tls_marker_captured_user_agent_and_timers() -> None:
    ingest = read_logs([EDGES / "lnav_haproxy_syslog.log"])
    detail = ingest.inputs[0].format_detail
    assert detail["captured_headers"] == {"http_user_agent": "captured_request_headers[0]"}
    first = ingest.requests.sort("line").row(0, named=True)
    assert first["scheme"] == "https"  # `~` after the frontend's name
    assert first["user_agent"].startswith("Mozilla/5.0 (Windows NT 6.1")
    assert first["duration_s"] == pytest.approx(1.487) and first["answered_by"] == "origin"
    # %tr (the request's start, 16:19:48.143) plus %Ta: HAProxy writes the line at the request's end.
    assert first["ts"].isoformat() == "2019-02-25T16:19:49.630000+00:00"


def test_real_haproxy_2_6_redirects_are_its_own_and_frontends_mix() -> None:
    ingest = read_logs([EDGES / "debian_haproxy_2.6_frontends.log"])
    frame = ingest.requests.sort("line")
    redirects = frame.filter(pl.col("status").is_in([301, 302]))
    assert redirects["answered_by"].to_list() == ["edge", "edge"]  # <NOSRV>, termination state LR--
    assert set(frame.filter(pl.col("status") == 200)["answered_by"]) == {"origin"}
    tls = frame.filter(pl.col("scheme") == "https").row(0, named=True)
    assert (tls["user_agent"], tls["tls_version"]) == ("node", "TLSv1.3")  # httpslog, one capture block
    # Host and User-Agent captured in that order: told apart by their values.
    cap = frame.filter(pl.col("status") == 302).row(0, named=True)
    assert cap["user_agent"] == "python-httpx/0.28.1" and cap["host"] == "127.0.0.1:18081"


@pytest.mark.parametrize("syslog", ["rfc5424", "rfc3164", "short", "priority", "iso", "timed"])
def test_haproxy_through_each_of_its_log_formats(syslog: str) -> None:
    """`log stdout format <syslog>` as Debian's HAProxy 2.6 writes it: the same two requests under each prefix."""
    frame = read_logs([EDGES / f"debian_haproxy_2.6_format_{syslog}.log"]).requests.sort("line")
    assert frame["status"].to_list() == [301, 200] and frame["answered_by"].to_list() == ["edge", "origin"]
    assert frame["user_agent"].to_list() == ["MCP-Client/1.0", "python-httpx/0.28.1"]
    assert frame["ts"][0].isoformat().startswith("2026-12-05T16:51:")  # %tr, read in UTC (--timezone otherwise)


def test_haproxys_thread_clocks_do_not_put_a_follow_up_before_its_redirect() -> None:
    """Found by the live lab: HAProxy's threads stamp `%tr` with clocks of their own, and a follow-up over HTTPS
    started, by its log, a millisecond before the 308 it followed. Requests are ordered by their ends, and a
    request logged after another but starting at most `clock_jitter_ms` before it starts with it: every attempt
    of this client, each of which connected (its own record), is a success."""
    analysis = analyze(EDGES / "debian_haproxy_2.6_thread_clocks.log", options=FlowOptions(attempt_gap_s=5, stuck_after=5))
    client = analysis.clients.row(0, named=True)
    assert (client["attempts"], client["successful_attempts"], client["outcome"]) == (6, 6, "connected")
    assert not client["failure_modes"]
    frame = analysis.ingest.requests.sort("line")
    starts = frame.with_columns((pl.col("ts") - pl.duration(microseconds=(pl.col("duration_s") * 1e6).cast(pl.Int64))).alias("start"))
    inverted = starts.filter((pl.col("start") < pl.col("start").shift(1)) & (pl.col("status").shift(1) == 308))
    assert inverted.height >= 2, "the log does hold follow-ups stamped before their redirects"


def test_haproxy_log_format_given_in_haproxys_own_syntax() -> None:
    clf = (
        '%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl'
    )
    ingest = read_logs([EDGES / "debian_haproxy_2.6_frontends.log"], FormatChoice(log_format=clf))
    report = ingest.inputs[0]
    assert report.format == "haproxy" and report.parsed == 1  # the one line the `clf` frontend wrote
    row = ingest.requests.row(0, named=True)
    assert (row["user_agent"], row["answered_by"], row["status"]) == ("clfagent/1", "origin", 200)


def test_envoy_gateway_json_through_cri_with_a_text_line_among_them() -> None:
    ingest = read_logs([EDGES / "crowdsec_hub_envoy_gateway_cri.log"])
    report = ingest.inputs[0]
    assert report.format_detail["container"] == "cri" and report.parsed == 4
    frame = ingest.requests.sort("line")
    redirect = frame.filter(pl.col("status") == 301).row(0, named=True)
    # response_code_details direct_response: Envoy's own redirect; listener 10080 is Envoy Gateway's port 80.
    assert (redirect["answered_by"], redirect["scheme"], redirect["client_ip"]) == ("edge", "http", "192.168.1.45")
    assert frame.filter(pl.col("line") == 1)["scheme"].to_list() == ["https"]
    # The last line is Envoy's default text format: read by Envoy's text layouts, the client from X-Forwarded-For.
    text = frame.filter(pl.col("line") == 4).row(0, named=True)
    assert (text["client_ip"], text["user_agent"], text["status"], text["method"]) == ("10.0.35.28", "nsq2http", 204, "POST")


def test_envoys_default_text_format_says_where_the_client_comes_from(story: dict[str, Path]) -> None:
    report = read_logs([story["envoy.log"]]).inputs[0]
    assert report.format_detail["client_from"] == "x-forwarded-for"
    assert report.notes == ["the log records no peer address: each client is X-Forwarded-For's first address"]


def test_cloudflare_always_use_https_is_the_edges_answer() -> None:
    row = rows(EDGES / "lnav_cloudflare.json")[0]
    assert (row["status"], row["answered_by"], row["scheme"], row["host"]) == (301, "edge", "http", "www.ripe.net")


def test_a_logpush_job_without_a_needed_field_says_which_once(tmp_path: Path) -> None:
    path = tmp_path / "subset.json"
    lines = [
        {"ClientIP": "203.0.113.9", "ClientRequestMethod": "POST", "ClientRequestURI": "/mcp", "EdgeResponseStatus": 301,
         "EdgeStartTimestamp": 1767225600123456789 + i, "OriginResponseStatus": 0}
        for i in range(3)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    ingest = read_logs([path])
    notes = ingest.inputs[0].notes
    assert len(notes) == 1 and "ClientRequestScheme" in notes[0] and "ClientRequestUserAgent" in notes[0]
    assert ingest.requests["scheme"].null_count() == 3  # unknown, not guessed
    assert "scheme" not in ingest.inputs[0].format_detail["logged"]
    assert ingest.requests["ts"][0].isoformat() == "2026-01-01T00:00:00.123456+00:00"  # unix nanoseconds


def test_w3c_fields_re_mapped_mid_file_and_across_blocks(tmp_path: Path) -> None:
    head = "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time c-ip cs-method cs-uri-stem sc-status\n"
    first = "".join(f"2026-12-01 10:00:{i:02d} 198.51.100.{i} GET /a{i} 200\n" for i in range(40))
    # IIS restarted with more fields: the header is written again and re-maps the lines after it.
    later = "#Fields: date time s-port c-ip cs(User-Agent) cs-method cs-uri-stem cs-uri-query sc-status time-taken\n"
    second = "".join(f"2026-12-01 11:00:{i:02d} 443 203.0.113.{i} MCP-Client/1.0+(x) POST /mcp - 400 {i}\n" for i in range(40))
    path = tmp_path / "u_ex261201.log"
    path.write_text(head + first + later + second)
    for block_bytes in (1 << 20, 300):  # one block, and blocks that start after the second header
        ingest = read_logs([path], block_bytes=block_bytes)
        report = ingest.inputs[0]
        assert (report.parsed, report.rejected, report.non_request) == (80, 0, 3), block_bytes
        late = ingest.requests.filter(pl.col("method") == "POST")
        assert late.height == 40 and set(late["scheme"]) == {"https"} and set(late["user_agent"]) == {"MCP-Client/1.0 (x)"}
        assert late["duration_s"].max() == pytest.approx(0.039)
        assert late["client_ip"].cast(pl.String).str.starts_with("203.0.113.").all()
    # A line with another number of fields than its header names is rejected with the reason.
    path.write_text(head + first + "2026-12-01 12:00:00 198.51.100.1 GET\n")
    report = read_logs([path]).inputs[0]
    assert report.rejected_reasons == {"has another number of fields than its #Fields header names (6)": 1}


def test_container_wrappers_are_taken_off_and_long_lines_joined(tmp_path: Path) -> None:
    line = '203.0.113.7 - - [05/Dec/2026:10:00:0{i} +0000] "POST /mcp HTTP/1.1" 301 169 "-" "MCP-Client/1.0"'
    cri, docker = [], []
    for i in range(6):
        text = line.format(i=i)
        if i == 3:  # a line the runtime cut in three pieces
            cri += [
                f"2026-12-05T10:00:03.00000000{k}Z stdout {f} {text[a:b]}"
                for k, (f, a, b) in enumerate((("P", 0, 30), ("P", 30, 60), ("F", 60, None)))
            ]
            for part in (text[:40], text[40:] + "\n"):
                docker.append(json.dumps({"log": part, "stream": "stdout", "time": "2026-12-05T10:00:03Z"}, separators=(",", ":")))
        else:
            cri.append(f"2026-12-05T10:00:0{i}.000000000Z stdout F {text}")
            docker.append(json.dumps({"log": text + "\n", "stream": "stdout", "time": "2026-12-05T10:00:00Z"}, separators=(",", ":")))
    cri.append(line.format(i=9))  # a line without the wrapper, among wrapped ones
    for name, content, pieces in (("cri.log", cri, 2), ("docker.log", docker, 1)):
        path = tmp_path / name
        path.write_text("\n".join(content) + "\n")
        for block_bytes in (1 << 20, 150):  # pieces split across blocks are joined too
            ingest = read_logs([path], block_bytes=block_bytes)
            report = ingest.inputs[0]
            assert report.format == "nginx" and report.format_detail["container"] == name.split(".")[0].replace("docker", "docker-json")
            assert report.lines == len(content) and report.non_request == pieces and report.rejected == 0
            assert report.parsed == len(content) - pieces
            assert set(ingest.requests["user_agent"]) == {"MCP-Client/1.0"} and set(ingest.requests["status"]) == {301}


def test_bad_edge_input_is_counted_and_explained(tmp_path: Path) -> None:
    alb = (EDGES / "crowdsec_hub_aws_alb.log").read_text().splitlines()
    cut = alb[0][: len(alb[0]) // 2]  # a line cut short
    added = alb[1] + ' "a-field-aws-adds-next-year" 42'  # fields AWS appends later: read open-ended
    path = tmp_path / "alb.log.gz"
    path.write_bytes(gzip.compress(("\n".join([alb[0], cut, added, alb[3]]) + "\n").encode()))  # as S3 delivers them
    ingest = read_logs([path])
    report = ingest.inputs[0]
    assert report.format == "aws-alb" and (report.lines, report.parsed, report.rejected) == (4, 3, 1)
    assert report.rejected_samples[0].line == 2 and "layout" in report.rejected_samples[0].reason


# --- the seed's story behind each edge ---------------------------------------------------------------------


def outcomes(analysis: Analysis) -> pl.DataFrame:
    client_level = pl.col("failure_modes").list.eval(pl.element().filter(~pl.element().is_in(list(SERVER_LEVEL)))).list.sort()
    return analysis.clients.select(
        "ip", "user_agent", "outcome", "transport", "mcp_transport", "teardown", client_level.alias("failure_modes")
    ).sort("ip", "user_agent", nulls_last=True)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("edges")
    return {p.name: p for p in GEN.write_edges(out, GEN.requests)}


@pytest.fixture(scope="module")
def nginx_story() -> pl.DataFrame:
    return outcomes(analyze(SAMPLES / "mcp-seed.access.log"))


#: file -> (edge, who the log says sent the story's redirects, whether the scheme is logged)
EDGE_OF = {
    "aws-alb.log": ("aws-alb", "edge", "logged"),
    "haproxy.log": ("haproxy", "edge", "logged"),
    "envoy-gateway.json": ("envoy", "edge", "logged"),
    "envoy.log": ("envoy", "edge", "inferred"),  # Envoy's default text format logs no scheme
    "cloudflare.json": ("cloudflare", "edge", "logged"),
    "gcp-lb.json": ("gcp-lb", "edge", "logged"),
    "azure-appgw.json": ("azure-appgw", "edge", "logged"),
    "azure-frontdoor.json": ("azure-frontdoor", "edge", "logged"),
    "cloudfront.log": ("cloudfront", "edge", "logged"),
    "aws-elb.log": ("aws-elb", "origin", "logged"),  # a Classic Load Balancer has no redirect: the backend's passes through
    "iis.log": ("iis", None, "logged"),  # IIS's log cannot say who answered
}


@pytest.mark.parametrize("name", sorted(EDGE_OF))
def test_the_story_behind_each_edge_gives_the_same_verdicts(story: dict[str, Path], nginx_story: pl.DataFrame, name: str) -> None:
    analysis = analyze(story[name])
    report = analysis.ingest.inputs[0]
    edge, answered_by, evidence = EDGE_OF[name]
    assert report.format_detail.get("edge") == edge and report.rejected == 0
    if name == "iis.log":  # IIS writes a space in a User-Agent as `+`, so a `+` of its own reads back as a space
        nginx_story = nginx_story.with_columns(pl.col("user_agent").str.replace_all("+", " ", literal=True)).sort(
            "ip", "user_agent", nulls_last=True
        )
    assert outcomes(analysis).equals(nginx_story)
    server = analysis.flows.server
    assert server.evidence == evidence and server.status_codes == {301: 1111}
    assert server.by_edge == (1111 if answered_by == "edge" else 0)
    top = analysis.findings[0]
    assert top.code == "redirect-method-downgrade" and (top.answered_by, top.edge) == (answered_by, edge if answered_by else None)
    if answered_by == "edge":
        assert next(iter(top.fix)) == edge, "the fix for the edge the log came from comes first"
        assert "itself, not by your server" in top.detail
    elif answered_by == "origin":
        assert next(iter(top.fix)) == "nginx" and "came from the server behind" in top.detail
    else:
        assert next(iter(top.fix)) == edge and "itself" not in top.detail
    validate_report(build_report(analysis))


def test_the_edges_fix_and_name_reach_the_terminal_and_the_json(story: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = run_cli("analyze", str(story["aws-alb.log"]), "--json", str(out), "--no-html")
    assert done.returncode == 0, done.stderr
    assert "edge:     the AWS Application Load Balancer (aws-alb) wrote this log" in done.stdout
    assert "the AWS Application Load Balancer sent them itself" in done.stdout
    assert "an ALB cannot redirect with 307/308" in done.stdout
    report = json.loads(out.read_text())
    validate_report(report)
    finding = report["findings"][0]
    assert (finding["answered_by"], finding["edge"]) == ("edge", "aws-alb")
    assert next(iter(finding["fix"])) == "aws-alb" and "HTTP_301 or HTTP_302" in finding["fix"]["aws-alb"]
    assert report["server"]["edge"] == {"edge": "aws-alb", "name": "the AWS Application Load Balancer", "answered_by_logged": True}


def test_a_redirect_the_server_behind_the_edge_sent_is_said_to_be_its(story: dict[str, Path], tmp_path: Path) -> None:
    """The same story where the backend, not the load balancer, answered plain HTTP with 301 (HAProxy passes it on)."""
    text = story["haproxy.log"].read_text().replace("fe_http/<NOSRV> 0/-1/-1/-1/0", "be_mcp/mcp1 0/0/0/1/1").replace(" LR-- ", " ---- ")
    path = tmp_path / "haproxy-backend-redirects.log"
    path.write_text(text)
    analysis = analyze(path)
    top = analysis.findings[0]
    assert top.code == "redirect-method-downgrade" and top.answered_by == "origin"
    assert "came from the server behind HAProxy" in top.detail
    assert next(iter(top.fix)) == "nginx", "the server's fix first: the edge only passed the redirect on"
    assert analysis.flows.server.by_edge == 0


def test_every_edge_has_a_name_a_fix_and_a_place_in_the_schema() -> None:
    """The data files agree: each edge a format names is described in edges.toml, has its redirect fix, and every
    system a fix is written for is one the report's schema allows."""
    import tomllib

    from logscope.detectors import edges, fixes
    from logscope.formats import jsonlines, text
    from logscope.report.json_report import report_schema

    named = {f.traits.edge for f in text.presets().values() if f.traits.edge}
    named |= {spec["edge"] for spec in jsonlines.flavours().values()}
    w3c = tomllib.loads((ROOT / "logscope/data/w3c_fields.toml").read_text())
    named |= {spec["edge"] for spec in w3c.values() if isinstance(spec, dict) and "edge" in spec}
    assert named <= set(edges()), named - set(edges())
    assert named <= set(fixes()["redirect-method-downgrade"])
    allowed = set(report_schema()["$defs"]["server_map"]["propertyNames"]["enum"])
    written = {k for table in fixes().values() for k, v in table.items() if isinstance(v, str) and k != "short"}
    assert written <= allowed, written - allowed
    assert {k for table in fixes().values() for k in table.get("short_for", {})} <= allowed


def test_azure_records_blobs_are_read_record_by_record(tmp_path: Path) -> None:
    """Azure's `{"records": [...]}` blobs (an Event Hub message each): every record read, a broken blob rejected."""
    records = [GEN.appgw_record(r) for r in GEN.requests[:300]]
    blobs = [json.dumps({"records": records[i : i + 37]}) for i in range(0, len(records), 37)]
    blobs.insert(2, '{"records": [{"time": "2026-05-16T12:00:00Z", "properties": {"clientIP": "cut')
    path = tmp_path / "PT1H.json"
    path.write_text("\n".join(blobs) + "\n")
    for block_bytes in (1 << 20, 4000):
        ingest = read_logs([path], block_bytes=block_bytes)
        report = ingest.inputs[0]
        assert (report.format, report.format_detail["edge"], report.format_detail["container"]) == ("azure", "azure-appgw", "records")
        assert (report.lines, report.parsed, report.rejected) == (301, 300, 1)
        assert any("records" in note for note in report.notes)
        assert ingest.requests.filter(pl.col("status") == 301)["answered_by"].unique().to_list() == ["edge"]
        assert ingest.requests["line"].max() == len(blobs)  # each record numbered as its blob's line


def test_ingress_nginx_upstreaminfo_says_when_the_controller_answered(tmp_path: Path) -> None:
    """ingress-nginx's default layout (its docs' log-format.md): a request without an upstream address was
    answered by the controller (its HTTPS redirect); retried upstreams are logged as lists."""
    lines = [
        '192.0.2.10 - - [05/Dec/2026:10:00:00 +0000] "POST /mcp HTTP/1.1" 301 164 "-" "MCP-Client/1.0" 312 0.000 '
        "[default-mcp-80] [] - - - - 4f1c0b9b5a2c1d0e8f7a6b5c4d3e2f10",
        '192.0.2.10 - - [05/Dec/2026:10:00:01 +0000] "GET /mcp HTTP/1.1" 400 12 "-" "MCP-Client/1.0" 350 0.012 '
        "[default-mcp-80] [] 10.244.1.7:8000 12 0.012 400 5a1c0b9b5a2c1d0e8f7a6b5c4d3e2f11",
        '192.0.2.11 - - [05/Dec/2026:10:00:02 +0000] "GET / HTTP/1.1" 502 150 "-" "curl/8.5.0" 80 0.004 '
        "[default-mcp-80] [] 10.244.1.7:8000, 10.244.1.8:8000 0, 0 0.002, 0.002 502, 502 6a1c0b9b5a2c1d0e8f7a6b5c4d3e2f12",
    ]
    path = tmp_path / "controller.log"
    path.write_text("\n".join(lines) + "\n")
    analysis = analyze(path)
    report = analysis.ingest.inputs[0]
    assert (report.format_detail["log_format_name"], report.format_detail["edge"], report.parsed) == (
        "ingress_nginx_upstreaminfo",
        "ingress-nginx",
        3,
    )
    assert analysis.ingest.requests.sort("line")["answered_by"].to_list() == ["edge", "origin", "origin"]
    finding = next(f for f in analysis.findings if f.code == "redirect-method-downgrade")
    assert finding.answered_by == "edge" and "http-redirect-code" in finding.detail and next(iter(finding.fix)) == "ingress-nginx"


def test_envoy_tcp_connections_are_counted_not_parsed(tmp_path: Path) -> None:
    """A TCP proxy's connections in the same Envoy access log have no method: non-request records, in JSON and text."""
    tcp = {"start_time": "2026-12-05T10:00:00.000Z", "method": None, "response_code": 0, "bytes_sent": 10, "duration": 5,
           "downstream_remote_address": "198.51.100.4:5000", "upstream_host": "10.0.0.1:5432", "x-envoy-origin-path": None}  # fmt: skip
    http = {**tcp, "method": "POST", "response_code": 301, "upstream_host": None, "response_code_details": "direct_response",
            "x-envoy-origin-path": "/mcp", "downstream_local_address": "10.42.0.77:10080", "user-agent": "MCP-Client/1.0"}  # fmt: skip
    text = '[2026-12-05T10:00:02.000Z] "- - -" 0 - 0 10 5 - "-" "-" "-" "-" "10.0.0.1:5432"'
    path = tmp_path / "envoy.json"
    path.write_text(f"{json.dumps(tcp)}\n{json.dumps(http)}\n{text}\n")
    ingest = read_logs([path])
    report = ingest.inputs[0]
    assert (report.parsed, report.rejected, report.non_request) == (1, 0, 2)
    assert report.non_request_kinds == {"Envoy TCP connection (no HTTP request)": 2}
    finding = next(f for f in analyze(path).findings if f.code == "redirect-not-followed")
    assert list(finding.fix)[:2] == ["envoy", "envoy-gateway"]  # a log cannot tell Envoy from Envoy Gateway


def test_an_edge_named_with_format_that_the_log_is_not_is_one_line() -> None:
    done = run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--format", "aws-alb", "--no-html")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("its first 200 lines are not in the aws-alb format (--format aws-alb)")
    assert run_cli("analyze", str(EDGES / "lnav_haproxy_syslog.log"), "--format", "haproxy", "--no-html", "-q").returncode == 0
