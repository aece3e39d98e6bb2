#!/usr/bin/env python3
"""`logscope analyze` on a gzip bomb: a small .gz that expands far beyond what its size suggests.

    python benchmarks/gzip_bomb.py                 # 2.5 GiB from about 21 MB
    python benchmarks/gzip_bomb.py --gib 2 --gib 2.5

It writes benchmarks/data/bomb-<G>GiB.log.gz once: the first 100 lines of the bundled seed log, repeated
with the client addresses renumbered (gzip packs them some 120 times), in two gzip members as
`cat a.gz b.gz` makes, so that the trailer's size (ISIZE, the last member's) tells nothing; and the same
text as a plain file, the bound the issue sets. A plain log of that size would be read in shards above
2 GiB; the bomb's guessed size (8 times the file) says read it whole. It runs the installed
`logscope analyze FILE --json …` under /usr/bin/time -v, by default and with `--shards 1` (read whole, as
before issue 24 item 9, which measured 9.9 GB at 2 GiB and 12 GB at 2.5 GiB), alternately, and prints the
wall time and the peak memory of each. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

from analyze_speed import DATA, measure

SEED = Path(__file__).resolve().parent.parent / "sample_logs" / "mcp-seed.access.log"


def write_bomb(path: Path, gib: float, copies_per_client: int = 64) -> None:
    """The seed's first 100 lines over and over, every `copies_per_client` copies from new clients (the
    addresses renumbered), so that the clients spread over shards as a real log's do (about 135,000 clients
    at 2.5 GiB); gzip packs it some 120 times."""
    lines = SEED.read_bytes().splitlines(keepends=True)
    chunk = b"".join(lines[:100])
    addresses = sorted({line.split(b" ", 1)[0] for line in lines[:100]})
    pattern = re.compile(rb"^(" + b"|".join(re.escape(a) for a in addresses) + rb") ", re.M)
    index = {a: i for i, a in enumerate(addresses)}
    template = pattern.sub(lambda m: b"%d.%%(hi)d.%%(mid)d.%%(lo)d " % (10 + index[m.group(1)]), chunk.replace(b"%", b"%%"))
    last = b"".join(lines[100:110])
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as out:
            for copy in range(int(gib * 2**30) // len(chunk)):
                client = copy // copies_per_client
                out.write(template % {b"hi": client >> 16 & 255, b"mid": client >> 8 & 255, b"lo": client & 255})
        raw.write(gzip.compress(last))
    partial.rename(path)


def _run(logscope: str, log: Path, extra: list[str]) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        wall, peak = measure([logscope, "analyze", str(log), "--json", str(report), "--html", str(Path(tmp) / "r.html"), *extra])
        lines = sum(i["lines"] for i in json.loads(report.read_text("utf-8"))["inputs"])
    return wall, peak, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, action="append", help="GiB the bomb expands to (default 2.5)")
    parser.add_argument("--copies-per-client", type=int, default=64, help="copies of the 100 lines from the same clients")
    parser.add_argument("--data", type=Path, default=DATA, help="where the logs are written (default benchmarks/data)")
    args = parser.parse_args()
    logscope = str(Path(sys.executable).with_name("logscope"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    args.data.mkdir(exist_ok=True)
    for gib in args.gib or [2.5]:
        bomb = args.data / f"bomb-{gib:g}GiB-{args.copies_per_client}.log.gz"
        if not bomb.exists():
            write_bomb(bomb, gib, args.copies_per_client)
        plain = bomb.with_suffix("")
        if not plain.exists():
            with gzip.open(bomb) as unpacked, plain.open("wb") as out:
                shutil.copyfileobj(unpacked, out, 1 << 20)
        runs = [
            (f"{bomb.stat().st_size / 1e6:.1f} MB of gzip", bomb, []),
            (f"the same {gib:g} GiB as a plain file", plain, []),
            ("the gzip, read whole (--shards 1)", bomb, ["--shards", "1"]),
        ]
        for how, log, extra in runs:
            wall, peak, lines = _run(logscope, log, extra)
            print(f"{gib:g} GiB, {lines:,} lines, {how:>36}: {wall:6.1f} s, peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
