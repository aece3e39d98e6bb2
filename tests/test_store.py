"""`logscope convert` writes a Parquet store; analysing it gives exactly what analysing the logs gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logscope import read_logs
from logscope.analysis import analyze

from .conftest import SAMPLES, run_cli, validate_report

LOGS = [SAMPLES / "mcp-seed.caddy.json", SAMPLES / "mcp-seed.access.log"]  # not alphabetical on purpose


@pytest.mark.slow
def test_convert_then_analyze_gives_the_same_answers(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = run_cli("convert", *map(str, LOGS), "--out", str(store))
    assert result.returncode == 0, result.stderr
    assert "13,114 requests from 2 input(s)" in result.stdout
    assert sorted(p.name for p in store.glob("day=*")) == [f"day=2026-05-{d}" for d in range(16, 22)]
    direct = read_logs(LOGS).requests
    stored = read_logs([store]).requests
    assert stored.equals(direct)  # same rows, same order (ties keep the inputs' order), same types
    a = json.loads(run_cli("analyze", *map(str, LOGS), "--json", "-", "-q", "--no-html").stdout)
    b = json.loads(run_cli("analyze", str(store), "--json", "-", "-q", "--no-html").stdout)
    validate_report(b)
    for key in ("inputs", "window", "totals", "clients", "architectures", "findings"):
        assert a[key] == b[key], key


@pytest.mark.slow
def test_store_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("not a store")
    result = run_cli("convert", str(LOGS[1]), "--out", str(tmp_path / "other"))
    assert result.returncode == 2 and "is not a logscope store" in result.stderr
    plain_dir = run_cli("analyze", str(tmp_path / "other"))
    assert plain_dir.returncode == 2 and "is a directory" in plain_dir.stderr and "Traceback" not in plain_dir.stderr
    store = tmp_path / "store"
    run_cli("convert", str(LOGS[1]), "--out", str(store))
    manifest = json.loads((store / "logscope-inputs.json").read_text())
    manifest["requests"] += 1
    (store / "logscope-inputs.json").write_text(json.dumps(manifest))
    broken = run_cli("analyze", str(store))
    assert broken.returncode == 2 and "manifest says" in broken.stderr


def test_store_can_be_rewritten(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_cli("convert", str(LOGS[1]), "--out", str(store))
    run_cli("convert", str(SAMPLES / "mcp-after-fix.access.log"), "--out", str(store))
    assert analyze(store).ingest.requests.height == (SAMPLES / "mcp-after-fix.access.log").read_text().count("\n")


def test_a_failed_conversion_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """convert writes block by block (memory holds a few blocks) into a staging folder, replaced only at
    the end: a bad input among good ones changes nothing."""
    store = tmp_path / "store"
    assert run_cli("convert", str(LOGS[1]), "--out", str(store)).returncode == 0
    before = read_logs([store]).requests
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    result = run_cli("convert", str(LOGS[0]), str(broken), "--out", str(store))
    assert result.returncode != 0 and "broken.log.gz" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in store.iterdir() if p.name.startswith(".")) == []  # no staging left behind
    assert read_logs([store]).requests.equals(before)
