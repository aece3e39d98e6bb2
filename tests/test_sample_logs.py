"""The bundled sample reproduces the first seed's case, identically in both of its formats."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from logscope import build_report, read_logs

from .conftest import SAMPLES, run_cli, validate_report

NGINX = SAMPLES / "mcp-seed.access.log"
CADDY = SAMPLES / "mcp-seed.caddy.json"


def test_generator_reproduces_the_committed_samples(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SAMPLES / "generate.py"), str(tmp_path)], check=True, capture_output=True)
    for name in (NGINX.name, CADDY.name, "mcp-after-fix.access.log"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name


def test_both_formats_carry_the_same_requests() -> None:
    nginx = read_logs([NGINX]).requests
    caddy = read_logs([CADDY]).requests
    assert nginx.height == caddy.height == NGINX.read_text().count("\n")
    same = ["client_ip", "method", "path", "query", "status", "bytes_sent", "user_agent"]
    # nginx logs whole seconds, so compare in file order (both files list requests in time order).
    assert nginx.sort("line").select(same).equals(caddy.sort("line").select(same))
    assert (nginx.sort("line")["ts"] == caddy.sort("line")["ts"].dt.truncate("1s")).all()
    # Only Caddy records the scheme; nginx combined leaves it unknown, never guessed.
    assert nginx["scheme"].null_count() == nginx.height
    assert set(caddy["scheme"].unique()) == {"http", "https"}


def test_seed_facts_are_in_the_sample() -> None:
    frame = read_logs([NGINX]).requests
    window = frame.select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).row(0)
    assert (window[1] - window[0]).days == 4 and (window[1] - window[0]).total_seconds() > 4.9 * 86400  # five days
    mcp_client = frame.filter((pl.col("client_ip") == "158.51.125.197") & (pl.col("user_agent") == "MCP-Client/1.0"))
    assert mcp_client["ts"].min() == datetime(2026, 5, 20, 20, 20, 3, tzinfo=UTC)
    redirected = mcp_client.filter((pl.col("method") == "POST") & (pl.col("status") == 301))
    assert redirected["path"].n_unique() == 6
    sse = frame.filter(pl.col("client_ip") == "54.67.34.241")
    assert sse["user_agent"].null_count() == sse.height
    assert sse.filter(pl.col("method") == "POST")["path"].unique().to_list() == ["/mcp/sse"]
    posts = sse.filter(pl.col("method") == "POST")
    assert posts.height > 140 and (posts["ts"].max() - posts["ts"].min()).days >= 2
    agents = set(frame["user_agent"].drop_nulls().unique())
    assert {"ke/JS 0.64.2", "python-httpx/0.28.1", "MCP-Client/1.0"} <= agents
    fleet = frame.filter(pl.col("user_agent").is_null() & pl.col("client_ip").cat.starts_with("172."))
    assert fleet["client_ip"].n_unique() == 40
    assert frame.filter((pl.col("client_ip") == "52.151.51.77") & (pl.col("method") == "DELETE")).height > 0


def test_json_report_layout() -> None:
    result = run_cli("analyze", str(NGINX), str(CADDY), "--json", "-", "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["schema_version"] == 1 and report["generator"].startswith("logscope ")
    assert [i["format"] for i in report["inputs"]] == ["nginx", "caddy"]
    assert report["inputs"][0]["log_format_name"] == "combined"
    assert all(i["parsed"] + i["rejected"] + i["non_request"] == i["lines"] for i in report["inputs"])
    assert report["window"] == {"start": "2026-05-16T12:00:00Z", "end": "2026-05-21T11:59:32.751600Z"}
    assert report["totals"]["requests"] == 2 * NGINX.read_text().count("\n")
    validate_report(report)
    assert {c["outcome"] for c in report["clients"]} >= {"stuck", "connected", "not-mcp"}
    assert report["findings"][0]["code"] == "redirect-method-downgrade"
    # The library gives the same document the CLI prints.
    assert build_report(read_logs([NGINX, CADDY]))["totals"] == report["totals"]


def test_clients_are_distinct_ip_and_user_agent_pairs() -> None:
    frame = read_logs([NGINX]).requests
    pairs = set(zip(frame["client_ip"].to_list(), frame["user_agent"].to_list(), strict=True))
    assert build_report(read_logs([NGINX]))["totals"]["clients"] == len(pairs)


def test_terminal_summary(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run_cli("analyze", str(NGINX), "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "nginx (combined)" in result.stdout and "requests: 6,557" in result.stdout
    assert "2026-05-16T12:00:00Z" in result.stdout
    assert json.loads(out.read_text())["totals"]["requests"] == 6557
