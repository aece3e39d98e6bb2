"""The benchmark scripts docs/performance.md quotes run, and measure what they say, on the bundled samples.

They print figures (timings are not asserted); what is asserted is that each one reads the whole log
and goes through every stage, so a figure in docs/performance.md cannot come from a run that silently did less.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from logscope import build_report, read_logs
from logscope.analysis import diagnose, inventory
from logscope.detectors import Context, run_detectors
from logscope.flows import build_flows

from .conftest import ROOT, SAMPLES, physical_lines

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

NGINX = SAMPLES / "mcp-seed.access.log"
CADDY = SAMPLES / "mcp-seed.caddy.json"


def run_script(name: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_stage_times_runs_every_stage_over_the_whole_log() -> None:
    out = run_script("stage_times.py", str(NGINX), "--repeat", "1")
    run = next(line for line in out.splitlines() if line.startswith("run 1:"))
    assert f"{physical_lines(NGINX):,} lines" in run
    assert f"{len(build_report(diagnose(read_logs([NGINX])))['clients']):,} clients" in run
    stages = re.findall(r"([a-z-]+) (\d+\.\d\d)", run.split(":", 2)[2])
    assert [name for name, _ in stages] == ["start-up", "parse", "flows", "detectors", "inventory", "json", "html"]
    total = float(re.search(r"= (\d+\.\d\d) s", run).group(1))
    assert abs(sum(float(s) for _, s in stages) - total) < 0.05


def test_stage_times_refuses_a_missing_log(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "stage_times.py"), str(tmp_path / "absent.log")], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "no such file" in result.stderr and "Traceback" not in result.stderr


def test_the_public_steps_give_what_diagnose_gives() -> None:
    # stage_times.py chains these steps itself: they must be the analysis `diagnose` does.
    ingest = read_logs([NGINX])
    flows = build_flows(ingest)
    stepwise = inventory(ingest, flows, run_detectors(Context(flows, ingest)))
    whole = diagnose(read_logs([NGINX]))
    assert stepwise.clients.equals(whole.clients)
    assert stepwise.architectures.equals(whole.architectures)
    assert [f.code for f in stepwise.findings] == [f.code for f in whole.findings]
    assert "redirect-method-downgrade" in [f.code for f in whole.findings]


def test_json_decoders_decode_every_line() -> None:
    out = run_script("json_decoders.py", str(CADDY), "--repeat", "1")
    lines = physical_lines(CADDY)
    assert f"{lines:,} lines" in out
    # A decoder that drops or adds rows prints "decoded N rows of M lines" instead of a timing.
    assert "rows of" not in out
    for decoder in ("arrow", "polars"):
        assert re.search(rf"^{decoder}\s+run 1:\s+\d+\.\d\d s \(\d+\.\d\d s of CPU\) = [\d,]+ lines/s$", out, re.M), out


def test_startup_times_every_command_it_names() -> None:
    out = run_script("startup.py", "--runs", "1")
    names = re.findall(r"^ (.+?) +median (\d\.\d{3}) s", out, re.M)
    assert [n for n, _ in names] == ["python -c pass", "logscope --version", "logscope --help", "logscope analyze --help"]
    assert all(float(s) > 0 for _, s in names)


def test_many_user_agents_runs_each_kind_and_counts_its_architectures(tmp_path) -> None:
    from logscope.report.json_report import LISTED_ARCHITECTURES

    out = run_script("many_user_agents.py", "--sizes", "3000", "--repeat", "1", "--data", str(tmp_path))
    rows = {m.group(1): m for m in re.finditer(r"3,000 lines, (\w+) *: .*?; ([\d,]+) architectures, ([\d,]+) listed", out)}
    assert set(rows) == {"one", "farm", "browsers", "tokens"}
    # One product per request: an architecture per client, the list capped.
    assert int(rows["tokens"].group(2).replace(",", "")) > LISTED_ARCHITECTURES == int(rows["tokens"].group(3).replace(",", ""))
    assert int(rows["one"].group(2).replace(",", "")) < 10
    assert sorted(p.name for p in tmp_path.glob("*.log")) == [f"many-ua-{k}-3000.log" for k in ("browsers", "farm", "one", "tokens")]


def test_gzip_bomb_costs_what_the_same_plain_log_does(tmp_path) -> None:
    """A small bomb: read whole by all three runs (it is far under 2 GiB), the lines the same each way."""
    out = run_script("gzip_bomb.py", "--gib", "0.002", "--data", str(tmp_path))
    rows = re.findall(r"0\.002 GiB, ([\d,]+) lines, +(.+?): +([\d.]+) s, peak RSS ([\d,]+) MiB", out)
    assert [how.split(" of gzip")[0].endswith("MB") or how for _, how, _, _ in rows] == [
        True,
        "the same 0.002 GiB as a plain file",
        "the gzip, read whole (--shards 1)",
    ]
    assert len({lines for lines, _, _, _ in rows}) == 1
    assert int(rows[0][0].replace(",", "")) > 15_000  # 2 MiB of nginx lines of about 120 bytes
    bomb = tmp_path / "bomb-0.002GiB-64.log.gz"
    assert bomb.stat().st_size * 50 < (tmp_path / "bomb-0.002GiB-64.log").stat().st_size  # it is a bomb
