#!/usr/bin/env python3
"""The plan on one process and on a LocalCluster: time and peak memory per process (issue 19).

    python benchmarks/cluster_speed.py                          # 10M and 30M lines, nginx combined
    python benchmarks/cluster_speed.py --sizes 2000000 --workers 2

For each size it runs `logscope analyze FILE --quiet --json … --html …` three ways: the one-process
default (read whole up to 2 GiB of log, in shards of about 1 GiB above), the same plan in shards in one
process (`--shards N`), and `--scheduler local:W` (W worker processes, N shards). While each runs, the
resident memory of the logscope process and of each of its child processes (the LocalCluster's workers)
is sampled every 0.1 s; the peak of each process is printed. The logs are benchmarks/analyze_speed.py's
(every line MCP traffic), written once into benchmarks/data/. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_speed import DATA, warm, write_nginx


def run(command: list[str]) -> tuple[float, float, list[float]]:
    """Wall seconds, the main process's peak RSS (MiB) and each child process's peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    main = psutil.Process(proc.pid)
    peaks: dict[int, float] = {}
    while proc.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):  # a process may end between listing and reading it
            for p in [main, *main.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    peaks[p.pid] = max(peaks.get(p.pid, 0.0), p.memory_info().rss / 2**20)
        time.sleep(0.1)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    own = peaks.pop(proc.pid, 0.0)
    return wall, own, sorted(peaks.values(), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000000,30000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lines-per-shard", type=int, default=2_500_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    logscope = shutil.which("logscope", path=str(Path(sys.executable).parent)) or "logscope"
    for size in (int(s) for s in args.sizes.split(",")):
        path = DATA / f"mcp-nginx-{size}.log"
        if not path.exists():
            DATA.mkdir(exist_ok=True)
            t = time.perf_counter()
            write_nginx(path, size)
            print(f"generated {path.name} ({path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.0f} s", flush=True)
        out = DATA / f"out-cluster-{size}"
        out.mkdir(exist_ok=True)
        shards = max(2 * args.workers, -(-size // args.lines_per_shard))
        base = [logscope, "analyze", str(path), "--quiet", "--json", str(out / "report.json"), "--html", str(out / "report.html")]
        for label, extra in (
            ("one process, default", []),
            (f"one process, {shards} shards", ["--shards", str(shards)]),
            (f"local:{args.workers}, {shards} shards", ["--shards", str(shards), "--scheduler", f"local:{args.workers}"]),
        ):
            warm(path)
            wall, own, children = run(base + extra)
            workers = ", ".join(f"{c:,.0f}" for c in children) if children else "none"
            print(
                f"{size:>11,} lines, {label:<28}: {wall:7.2f} s = {size / wall:>9,.0f} lines/s; peak RSS: logscope {own:,.0f} MiB,"
                f" worker processes {workers} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
