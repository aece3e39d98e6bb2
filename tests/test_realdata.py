"""Every real log in ../shared/realdata parses; every rejected line is accounted for and justified.

The expectations below were checked by reading the rejected lines themselves: each comment says why
those lines are not access records (or are broken ones).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from logscope import FormatChoice, read_logs

from .conftest import physical_lines

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

BLANK = "blank line"
NO_LAYOUT = "matches no known layout"
SERVER_MESSAGE = "the server's own message (a JSON object with no request)"
#: file -> {kind: count} of its lines that are no request (counted, not rejected); {} for the others.
NON_REQUEST = {
    "apache/crowdsec_hub_apache2_logs.log": {"Apache error-log line": 2},
    "caddy/crowdsec_hub_caddy_logs.json": {SERVER_MESSAGE: 1},
    "caddy/lnav_caddy_log_0_docker_prefixed.log": {SERVER_MESSAGE: 35},
    "nginx/crowdsec_hub_nginx_http_logs.log": {"nginx error-log line": 1},
    "nginx_custom/crowdsec_hub_npm_mixed_formats.log": {"nginx error-log line": 2},
}

# file -> (format family, log_format_name or None, {reason: count}, explicit log_format or None)
EXPECTED: dict[str, tuple[str, str | None, dict[str, int], str | None]] = {
    # Eight combined lines and a common one; the other two are Apache *error log* lines (non-request records).
    "apache/crowdsec_hub_apache2_logs.log": ("nginx", None, {}, None),
    "apache/crowdsec_hub_apache2_malformed.log": ("nginx", "combined", {}, None),
    # Line 8899 is cut off inside its User-Agent (no closing quote, no newline before the next line).
    "apache/elastic_examples_apache_logs.log": ("nginx", "combined", {NO_LAYOUT: 1}, None),
    "apache/kit0415_sec_analyst_access_combined.log": ("nginx", "combined", {}, None),
    "apache/kit0415_sec_analyst_access_common.log": ("nginx", "common", {}, None),
    # The last line is empty. Line 2127 is in `common` layout and is parsed by the fallback.
    "apache/lovecoding1987_sample_logs_access.log.1": ("nginx", "combined", {BLANK: 1}, None),
    "apache/lovecoding1987_sample_logs_access.log.9": ("nginx", "combined", {}, None),
    "apache/lovecoding1987_sample_logs_access.log.12": ("nginx", "combined", {}, None),
    "apache/lovecoding1987_sample_logs_other_vhosts_access.log.1": ("nginx", "vhost_combined", {}, None),
    "apache/lovecoding1987_sample_logs_other_vhosts_access.log.2": ("nginx", "vhost_combined", {}, None),
    "apache/lovecoding1987_sample_logs_other_vhosts_access.log.5": ("nginx", "vhost_combined", {}, None),
    "caddy/crowdsec_hub_caddy_basic_auth_bf.json": ("caddy", None, {}, None),
    # One Caddy runtime message (a non-request record) and an empty last line.
    "caddy/crowdsec_hub_caddy_logs.json": ("caddy", None, {BLANK: 1}, None),
    "caddy/hannah_xiang_jewelry_caddy_access.json": ("caddy", None, {}, None),
    "caddy/jakecarlson1_website_caddy_v1_common_access.log": ("nginx", "common", {}, None),
    "caddy/jasontgai_retirement_caddy_console_access-2026-08-06.log.gz": ("caddy", None, {}, None),
    "caddy/jasontgai_retirement_caddy_console_access-2026-08-13.log.gz": ("caddy", None, {}, None),
    # 35 of 39 lines are Caddy start-up/shutdown messages, not requests (non-request records).
    "caddy/lnav_caddy_log_0_docker_prefixed.log": ("caddy", None, {}, None),
    "caddy/lnav_caddy_log_1_tnonline_mirror.json": ("caddy", None, {}, None),
    "caddy/matlendzi_turboinserat_caddy_access.json": ("caddy", None, {}, None),
    "caddy/matomo_log_analytics_caddy_json_fixture.json": ("caddy", None, {}, None),
    "caddy/phw0228_signforall_caddy_access.json": ("caddy", None, {}, None),
    "caddy/sandip3120_inventory_caddy_access.json": ("caddy", None, {}, None),
    "caddy/yagayyavig_portfolio_caddy_console_access.log": ("caddy", None, {}, None),
    "caddy/ysicing_caddy2geocn_caddy_v2.4_console.log": ("caddy", None, {}, None),
    "json/ilyinon_ugc_sprint_2_nginx_json_combined_access.json": ("json", None, {}, None),
    "json/jakkaret_waf_project_nginx_json_combined_access.json": ("json", None, {}, None),
    "json/jakkaret_waf_project_nginx_json_combined_request_id_access.json": ("json", None, {}, None),
    "json/matomo_log_analytics_nginx_json_fixture.json": ("json", None, {}, None),
    "nginx/bce_ymput_log_analizer_access.log.2.gz": ("nginx", "combined", {}, None),
    "nginx/bce_ymput_log_analizer_access.log.10.gz": ("nginx", "combined", {}, None),
    "nginx/bce_ymput_log_analizer_access.log.14.gz": ("nginx", "combined", {}, None),
    "nginx/coralogix_resources_logstash_nginx_access.log": ("nginx", "combined", {}, None),
    "nginx/crowdsec_hub_nginx_dos_bypass_cache.log": ("nginx", "combined", {}, None),
    # One line lacks the ident field (`1.1.1.1 - [date]`); one is an nginx *error log* line (a non-request record).
    "nginx/crowdsec_hub_nginx_http_logs.log": ("nginx", None, {NO_LAYOUT: 1}, None),
    "nginx/crowdsec_hub_nginx_http_malformed.log": ("nginx", "combined", {}, None),
    # The last line is empty.
    "nginx/crowdsec_hub_nginx_syslog_prefixed_wpconfig.log": ("nginx", "combined, syslog-wrapped", {BLANK: 1}, None),
    "nginx/crowdsec_hub_nginx_vhost_xff_cve-2021-41773.log": ("nginx", "host_combined", {}, None),
    "nginx/ilyinon_ugc_sprint_2_nginx_combined_xff_ipv6_access.log": ("nginx", "combined_xff", {}, None),
    "nginx/lnav_shop_access_log_zanbil.log": ("nginx", "combined_xff", {}, None),
    "nginx_custom/crowdsec_hub_bunkerweb_vhost_reqid.log": ("nginx", "bunkerweb", {}, None),
    # NPMplus: the format was inferred (see SOURCES.md); referer and User-Agent are unquoted. Lines 5 and
    # 6 are in NPM's standard and proxy layouts, not the one named, and an explicit layout is not second-guessed.
    "nginx_custom/crowdsec_hub_npm_custom_catch.log": (
        "nginx",
        None,
        {"does not match the custom log_format layout": 2},
        '[$time_local] $host $remote_addr $request_time "$request" $status $body_bytes_sent $bytes_sent $http_referer $http_user_agent',
    ),
    # NPM proxy, NPM standard and combined lines, and two nginx *error log* lines (non-request records).
    "nginx_custom/crowdsec_hub_npm_mixed_formats.log": ("nginx", None, {}, None),
    "nginx_custom/emillaursen_nginx_text_request_time_mid_access.log": (
        "nginx",
        None,
        {},
        '$remote_addr - $remote_user [$time_local] "$request" $request_time $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"',
    ),
    "nginx_custom/feedforce_isucon6_nginx_with_time_access.log.1": ("nginx", "combined_request_time", {}, None),
    # The with_time format was switched on during this rotation: 43 plain combined lines come first.
    "nginx_custom/feedforce_isucon6_nginx_with_time_access.log.20160918_135654": ("nginx", "combined_request_time + combined", {}, None),
    "nginx_custom/hyh19_npm_backup_fallback_access_standard_fmt.log": ("nginx", "npm_standard", {}, None),
    "nginx_custom/hyh19_npm_backup_proxy-host-8_access_proxy_fmt.log": ("nginx", "npm_proxy", {}, None),
    "nginx_custom/shadiayoub_proxy_ha_npm_fallback_access_standard_fmt.log": ("nginx", "npm_standard", {}, None),
    "nginx_custom/shadiayoub_proxy_ha_npm_proxy-host-3_access_proxy_fmt.log": ("nginx", "npm_proxy", {}, None),
    "nginx_custom/shadiayoub_proxy_ha_npm_proxy-host-4_access_proxy_fmt_multi_upstream.log": ("nginx", "npm_proxy", {}, None),
    # Ten lines from PHP-injection scanners carry raw `"` in the request; the lenient retry parses them.
    "traefik/aleksturbo_service_traefik_clf_access.log": ("nginx", "traefik_clf", {}, None),
    "traefik/amirtaherkhani_dockbox_traefik_clf_access.log": ("nginx", "traefik_clf", {}, None),
    "traefik/codetrickz_ansible_traefik_access_connect_probe.json": ("traefik", None, {}, None),
    "traefik/crowdsec_hub_traefik_base_http_scenario.json": ("traefik", None, {}, None),
    # A Traefik plugin's `DEBUG: CrowdsecBouncerTraefikPlugin ...` text line.
    "traefik/crowdsec_hub_traefik_json.json": ("traefik", None, {"not a JSON object": 1}, None),
    "traefik/javierae_traefik_clf_access_public.log": ("nginx", "traefik_clf", {}, None),
    "traefik/lorenzolacorte_traefik_clf_access.log": ("nginx", "traefik_clf", {}, None),
    "traefik/maborak_monitor_stack_traefik_v2_access.json": ("traefik", None, {}, None),
    "traefik/matomo_log_analytics_traefik_json_fixture_string_status.json": ("traefik", None, {}, None),
    "traefik/pseint_vp_traefik_access_minimal_fields.json": ("traefik", None, {}, None),
    "traefik/rohanpradev_turborepo_traefik_access_tracing.json": ("traefik", None, {}, None),
    "traefik/srthibaultp_cours_docker_traefik_access_tls.json": ("traefik", None, {}, None),
    "traefik/team_k_backend_traefik_v3_access.json": ("traefik", None, {}, None),
    "traefik/ticketingonthefly_traefik_clf_access_redirects.log": ("nginx", "traefik_clf", {}, None),
}


def test_every_real_log_is_covered(realdata: Path) -> None:
    on_disk = {str(p.relative_to(realdata)) for p in realdata.glob("*/*") if p.parent.name != "networks" and p.suffix != ".md"}
    assert on_disk == set(EXPECTED), "a real log was added or removed: give it an expectation here"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_log_parses(realdata: Path, name: str) -> None:
    family, layout, reasons, log_format = EXPECTED[name]
    path = realdata / name
    ingest = read_logs([path], FormatChoice(log_format=log_format))
    report = ingest.inputs[0]
    assert report.format == family
    if layout is not None:
        assert report.format_detail.get("log_format_name") == layout
    assert report.lines == physical_lines(path)
    assert report.parsed + report.rejected + report.non_request == report.lines
    assert report.rejected_reasons == reasons
    assert report.non_request_kinds == NON_REQUEST.get(name, {})
    assert report.parsed == ingest.requests.height > 0
    frame = ingest.requests
    # Every accepted line has a time and a status; the frame is in time order.
    assert frame["ts"].null_count() == 0
    assert frame["status"].is_between(0, 999).all()
    assert frame["ts"].is_sorted()
    assert frame["client_ip"].null_count() == 0 or family == "json"
    assert set(frame["source"].unique()) == {str(path)}


def test_traefik_unescaped_quote_in_request_is_parsed(realdata: Path) -> None:
    path = realdata / "traefik/aleksturbo_service_traefik_clf_access.log"
    frame = read_logs([path]).requests.filter(pl.col("line") == 833)
    row = frame.row(0, named=True)
    assert row["method"] == "GET"
    assert row["path"] == "/index.php"
    assert row["query"].endswith('<?echo(md5("hi"))&?>+/tmp/index1.php')
    assert (row["status"], row["bytes_sent"], row["duration_s"]) == (404, 19, 0.0)


def test_caddy_scheme_and_response_headers_are_read(realdata: Path) -> None:
    frame = read_logs([realdata / "caddy/lnav_caddy_log_1_tnonline_mirror.json"]).requests
    first = frame.row(0, named=True)
    assert first["client_ip"] == "10.5.1.1" and first["forwarded_for"] == "10.10.10.117"
    assert first["hsts"] == "max-age=31968001; preload"
    assert first["host"] == "mirrors.tnonline.net"
    turbo = read_logs([realdata / "caddy/matlendzi_turboinserat_caddy_access.json"]).requests
    redirects = turbo.filter(pl.col("status") == 308)
    assert redirects.height > 0
    # Caddy's HTTP->HTTPS redirects come from plain-HTTP requests (no `tls` object) and say where to.
    assert (redirects.filter(pl.col("scheme") == "http")["location"].str.starts_with("https://")).all()


def test_caddy_console_times_and_old_fields(realdata: Path) -> None:
    frame = read_logs([realdata / "caddy/ysicing_caddy2geocn_caddy_v2.4_console.log"]).requests
    # 1.630318886106265e+09 in scientific notation, and 2021-08-30T23:46:47.951+0800 with an offset.
    assert str(frame["ts"][0]) == "2021-08-30 10:21:26.106265+00:00"
    assert frame.filter(pl.col("status") == 666).height > 0
    # remote_addr "127.0.0.1:62374" in this old version: the port is dropped.
    assert "127.0.0.1" in frame["client_ip"].to_list()
    assert not frame["client_ip"].cast(pl.String).str.contains(":").any()


def test_traefik_duration_scheme_and_router(realdata: Path) -> None:
    frame = read_logs([realdata / "traefik/srthibaultp_cours_docker_traefik_access_tls.json"]).requests
    first = frame.row(0, named=True)
    assert first["duration_s"] == pytest.approx(608893 / 1e9)
    assert first["scheme"] == "http" and first["router_name"] == "web-to-websecured@internal"
    assert set(frame["scheme"].unique()) == {"http", "https"}
    string_status = read_logs([realdata / "traefik/matomo_log_analytics_traefik_json_fixture_string_status.json"]).requests
    assert string_status["status"].to_list() == [200]


def test_time_zones_are_converted_to_utc(realdata: Path) -> None:
    # zanbil.ir logs +0330: 22/Jan/2019:03:56:14 +0330 is 00:26:14 UTC.
    frame = read_logs([realdata / "nginx/lnav_shop_access_log_zanbil.log"]).requests
    assert str(frame["ts"][0]) == "2019-01-22 00:26:14+00:00"


def test_npm_upstream_status_list_kept_as_text(realdata: Path) -> None:
    frame = read_logs([realdata / "nginx_custom/shadiayoub_proxy_ha_npm_proxy-host-4_access_proxy_fmt_multi_upstream.log"]).requests
    assert "502, 502" in frame["upstream_status"].to_list()
    assert frame["scheme"].drop_nulls().len() == frame.height  # NPM logs $scheme


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_log_diagnosis_calls_nobody_stuck(realdata: Path, name: str) -> None:
    """None of these servers speaks MCP: every client is `not-mcp`, and the report matches its schema."""
    from logscope.analysis import analyze
    from logscope.report.json_report import build_report

    from .conftest import validate_report

    analysis = analyze(realdata / name, FormatChoice(log_format=EXPECTED[name][3]))
    assert set(analysis.clients["outcome"].unique()) == {"not-mcp"}
    report = build_report(analysis)
    validate_report(report)
    assert report["totals"]["stuck_clients"] == 0
    # No MCP failure mode on a server without MCP traffic. A credential sent over plain HTTP is a finding on
    # any site: Caddy logs a redacted `"Authorization": []`, and one fixture has two such requests.
    modes = {m for c in report["clients"] for m in c["failure_modes"]}
    assert modes == ({"cleartext-credentials"} if name in CREDENTIALS_OVER_HTTP else set())
    if name in CREDENTIALS_OVER_HTTP:
        assert finding_count(report, "cleartext-credentials") == CREDENTIALS_OVER_HTTP[name]


CREDENTIALS_OVER_HTTP = {"caddy/crowdsec_hub_caddy_logs.json": 2}  # requests with an Authorization header over HTTP


def finding_count(report: dict, code: str) -> int:
    return next(f["count"] for f in report["findings"] if f["code"] == code)


def test_equally_common_layouts_are_chosen_the_same_way_every_time(realdata: Path) -> None:
    """One line each matches vhost_combined, host_combined and common, and only three layouts are kept:
    the tie goes to the preferred (more specific) layouts, never to the order a group-by happens to give."""
    from logscope.formats import FormatChoice, resolve

    lines = (realdata / "apache/crowdsec_hub_apache2_logs.log").read_text().splitlines()
    labels = {resolve(FormatChoice(), lines).describe()["log_format_name"] for _ in range(30)}  # type: ignore[union-attr]
    assert labels == {"vhost_combined + host_combined + combined"}
