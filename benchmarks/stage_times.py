#!/usr/bin/env python3
"""Where the time of one `logscope analyze` goes: each stage timed in a fresh process.

    python benchmarks/stage_times.py LOG [--repeat 3]

LOG is any access log (for instance benchmarks/data/mcp-nginx-2000000.log, which analyze_speed.py
writes). Each run starts a new Python process, which reads the log whole (no shards) through the
library's public steps, as `diagnose` chains them: read_logs (parse), build_flows, run_detectors,
inventory, the JSON report, the HTML report. It prints the seconds of each stage and the process's peak
resident memory after it. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
start = time.perf_counter()
from logscope import read_logs
from logscope.analysis import inventory
from logscope.detectors import Context, run_detectors
from logscope.flows import build_flows
from logscope.report.html_report import write_html
from logscope.report.json_report import build_report, write_json
stages = []
def mark(name, since):
    now = time.perf_counter()
    stages.append((name, now - since, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return now
t = mark("start-up", start)
ingest = read_logs([sys.argv[1]]); t = mark("parse", t)
flows = build_flows(ingest); t = mark("flows", t)
findings = run_detectors(Context(flows, ingest)); t = mark("detectors", t)
analysis = inventory(ingest, flows, findings); t = mark("inventory", t)
with tempfile.TemporaryDirectory() as out:
    report = build_report(analysis, clients="frame"); write_json(report, Path(out) / "report.json"); t = mark("json", t)
    write_html(analysis, report, Path(out) / "report.html"); t = mark("html", t)
print(json.dumps({"stages": stages, "total": t - start, "lines": ingest.inputs[0].lines, "clients": len(report["clients"])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.log.is_file():
        parser.error(f"{args.log}: no such file (benchmarks/analyze_speed.py writes the benchmark logs)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    for i in range(args.repeat):
        print(f"run {i + 1}: {stage_line(args.log)}")


def stages(log: Path) -> dict:
    """One run in a fresh process: {"stages": [(name, seconds, peak MiB)], "total", "lines", "clients"}."""
    result = subprocess.run([sys.executable, "-c", CHILD, str(log)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"stage times of {log} failed: {result.stderr.strip().splitlines()[-1]}")
    return json.loads(result.stdout)


def stage_line(log: Path) -> str:
    run = stages(log)
    times = "  ".join(f"{name} {seconds:.2f}" for name, seconds, _ in run["stages"])
    peak = max(rss for _, _, rss in run["stages"])
    largest = sorted(run["stages"], key=lambda s: -s[1])[:2]
    held = " and ".join(f"{name} ({seconds / run['total']:.0%})" for name, seconds, _ in largest)
    return (
        f"{run['lines']:,} lines, {run['clients']:,} clients: {times}  = {run['total']:.2f} s, peak RSS {peak:,.0f} MiB;"
        f" held back most by {held}"
    )


if __name__ == "__main__":
    main()
