#!/usr/bin/env python3
"""Parse throughput, diagnosis time and peak memory of logscope on a generated nginx combined log.

    python benchmarks/parse_speed.py [--lines 2000000] [--repeat 3]

Writes benchmarks/data/combined-<N>.log once (realistic MCP traffic: many clients, redirect loops,
browsers, scanners), then, in a fresh process per run, parses it with `logscope.read_logs` and
diagnoses it (flows, findings, JSON report), and prints the time of each, lines per second and the
process's peak resident memory. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
UAS = [
    "python-httpx/0.28.1",
    "node",
    "MCP-Client/1.0",
    "claude-code/2.1.204 (cli)",
    "openai-mcp/1.0.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36",
    "-",
]
ENDPOINTS = [
    ("POST", "/mcp", 200),
    ("POST", "/mcp", 202),
    ("GET", "/mcp", 200),
    ("GET", "/sse", 200),
    ("POST", "/messages/?session_id=9f1c2ab0", 202),
    ("DELETE", "/mcp", 200),
    ("GET", "/", 200),
    ("GET", "/.env", 404),
]


def generate(path: Path, lines: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    clients = [
        (f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(UAS)) for _ in range(20000)
    ]
    t = datetime(2026, 5, 16, tzinfo=UTC)
    step = timedelta(seconds=5 * 86400 / lines)
    with path.open("w", encoding="utf-8") as out:
        buf = []
        for i in range(lines):
            ip, ua = clients[rng.randrange(len(clients))]
            if i % 11 == 0:  # the seed's loop: POST answered 301, followed by a body-less GET that fails
                method, target, status = ("POST", "/mcp", 301) if i % 22 == 0 else ("GET", "/mcp", 400)
            else:
                method, target, status = ENDPOINTS[rng.randrange(len(ENDPOINTS))]
            stamp = (t + step * i).strftime("%d/%b/%Y:%H:%M:%S +0000")
            buf.append(f'{ip} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {rng.randint(0, 9000)} "-" "{ua}"\n')
            if len(buf) == 100000:
                out.writelines(buf)
                buf.clear()
        out.writelines(buf)


CHILD = """
import json, resource, sys, time
from logscope import read_logs
from logscope.analysis import diagnose
from logscope.report.json_report import build_report
t = time.perf_counter()
ingest = read_logs([sys.argv[1]])
parsed = time.perf_counter()
report = build_report(diagnose(ingest))
done = time.perf_counter()
print(json.dumps({"seconds": parsed - t, "diagnose_seconds": done - parsed, "parsed": ingest.inputs[0].parsed,
                  "lines": ingest.inputs[0].lines, "clients": len(report["clients"]),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    path = data / f"combined-{args.lines}.log"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.lines)
    size_mib = path.stat().st_size / 2**20
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"input:   {path.name}, {args.lines:,} lines, {size_mib:,.0f} MiB (nginx combined)")
    runs = []
    for i in range(args.repeat):
        result = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
        run = json.loads(result.stdout)
        assert run["parsed"] == run["lines"] == args.lines, run
        runs.append(run)
        print(
            f"run {i + 1}: parse {run['seconds']:.2f} s = {run['lines'] / run['seconds']:,.0f} lines/s; "
            f"flows + findings + report {run['diagnose_seconds']:.2f} s ({run['clients']:,} clients); "
            f"peak RSS {run['peak_rss_mib']:,.0f} MiB"
        )
    best = min(runs, key=lambda r: r["seconds"])
    print(
        f"best:  {best['seconds']:.2f} s = {args.lines / best['seconds']:,.0f} lines/s "
        f"({size_mib / best['seconds']:,.0f} MiB/s), peak RSS {max(r['peak_rss_mib'] for r in runs):,.0f} MiB"
    )


if __name__ == "__main__":
    main()
