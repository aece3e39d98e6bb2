#!/usr/bin/env python3
"""`logscope analyze` on a log where every request sends its own User-Agent (a crawler farm, an attacker).

    python benchmarks/many_user_agents.py                     # 200,000 lines
    python benchmarks/many_user_agents.py --sizes 200000 2000000

For each size it writes four nginx logs of the same requests (analyze_speed.py's MCP traffic, each
request from its own address) that differ only in the User-Agent: `one` (every request the same
browser), `farm` (`FarmBot/<n>`, a crawler per request), `browsers` (a Chrome build per request, which
uap-core's regexes parse) and `tokens` (`tool<n>/1.<n>`, a product per request, so an architecture per
client). It runs the installed `logscope analyze FILE --json …` on each, alternately, `--repeat` times,
and prints wall time and peak memory, each as a ratio to `one` from the same round. Target (issue 24):
200,000 distinct User-Agents within 10x the time of one, and 2,000,000 in bounded memory. Not a test:
it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from analyze_speed import DATA, measure, nginx_line, traffic, warm, write_lines

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{} Safari/537.36"
KINDS: dict[str, Callable[[int], str]] = {
    "one": lambda i: CHROME.format("148.0.0.0"),
    "farm": lambda i: f"Mozilla/5.0 (compatible; FarmBot/{i}.0; +http://crawler{i}.example/bot)",
    "browsers": lambda i: CHROME.format(f"{100 + i % 50}.0.{i // 1000}.{i % 1000}"),
    "tokens": lambda i: f"tool{i}/1.{i}",
}


def write(path: Path, lines: int, user_agent: Callable[[int], str]) -> None:
    def records():
        for i, (ts, _ip, method, target, status, size, duration, _ua, https) in enumerate(islice(traffic(lines), lines)):
            ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
            yield nginx_line(ts, ip, method, target, status, size, duration, user_agent(i), https)

    write_lines(path, records())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA, help="where the logs are written (default benchmarks/data)")
    args = parser.parse_args()
    logscope = str(Path(sys.executable).with_name("logscope"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    args.data.mkdir(exist_ok=True)
    for size in args.sizes:
        logs = {}
        for kind, user_agent in KINDS.items():
            logs[kind] = args.data / f"many-ua-{kind}-{size}.log"
            if not logs[kind].exists():
                write(logs[kind], size, user_agent)
        results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                for kind, log in logs.items():
                    warm(log)
                    out = Path(tmp) / f"{kind}.json"
                    results[kind].append(measure([logscope, "analyze", str(log), "--json", str(out), "--html", str(Path(tmp) / "r.html")]))
                    report = json.loads(out.read_text("utf-8"))
                    listed = len(report["architectures"])
                    results.setdefault(f"{kind}-arch", []).append((report["totals"]["architectures"], listed))
        for kind in KINDS:
            figures = []
            for (wall, peak), (base_wall, base_peak) in zip(results[kind], results["one"], strict=True):
                figures.append(f"{wall:6.2f} s ({wall / base_wall:4.1f}x) {peak:6.0f} MiB ({peak / base_peak:3.1f}x)")
            total, listed = results[f"{kind}-arch"][-1]
            print(f"{size:>9,} lines, {kind:<8}: " + "; ".join(figures) + f"; {total:,} architectures, {listed:,} listed")


if __name__ == "__main__":
    main()
