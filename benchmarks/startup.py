#!/usr/bin/env python3
"""How long `logscope --version`, `logscope --help` and `logscope analyze --help` take to answer (issue 18's
target: under 0.3 s for the first two). Each is run `--runs` times as a new process; the median and the
slowest are printed, beside `python -c pass` for the interpreter's own start. Not a test: it prints figures.

    python benchmarks/startup.py --runs 15
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time


def timed(command: list[str], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    logscope = shutil.which("logscope") or f"{sys.executable} -m logscope"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "logscope --version": [*logscope.split(), "--version"],
        "logscope --help": [*logscope.split(), "--help"],
        "logscope analyze --help": [*logscope.split(), "analyze", "--help"],
    }
    timed(commands["logscope --version"], 2)  # warm the file cache
    for name, command in commands.items():
        s = timed(command, args.runs)
        target = "  (target < 0.30 s)" if name in ("logscope --version", "logscope --help") else ""
        print(f" {name:<24} median {statistics.median(s):.3f} s, slowest {max(s):.3f} s over {args.runs} runs{target}")


if __name__ == "__main__":
    main()
