#!/usr/bin/env python3
"""How fast `logscope watch` keeps up, and how soon it tells.

    python benchmarks/watch_speed.py                      # replay 1M lines; follow 100k lines/s for 30 s
    python benchmarks/watch_speed.py --rate 150000 --seconds 20 --clients 100000

1. Replay: `logscope watch FILE --from-start --once --jsonl` over the benchmark's nginx file (benchmarks/
   analyze_speed.py's generator), timed and measured like `analyze`.
2. Follow: `logscope watch FILE --jsonl --batch 1 --metrics …` follows a file while this script appends
   nginx `combined` lines to it at `--rate` lines per second from `--clients` clients, all of them active
   all the time, stamped with the clock (so log time follows the clock). It prints the rate the watch
   sustained (the slope of the lines it counted, read from its Prometheus endpoint twice a second), the
   lines written and not yet counted (at most, and at the end), its batches (lines, the time each took to
   analyse: under a second, it keeps up) and its peak memory. Among the lines, clients get stuck one after
   another (three failed attempts, `--attempt-gap 1 --stuck-after 3`): each `client-stuck` is timed from
   the write of the line that closed its third attempt (the first line logged a gap after it: before that
   line the attempt could still grow) to the event on the watch's standard output.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_speed import DATA, UAS, measure, warm, write_nginx

GAP = 1.0


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _line(t: float, ip: str, method: str, path: str, status: int, ua: str | None) -> str:
    return f'{ip} - - [{_stamp(t)}] "{method} {path} HTTP/1.1" {status} 42 "-" "{ua or "-"}"\n'


def _scrape(port: int) -> tuple[float, float, float]:
    """Lines the watch has counted, and the sum and count of its batch times."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    lines = sum(float(m) for m in re.findall(r'^logscope_lines_total\{result="(?:parsed|rejected)"\} (\S+)$', text, re.M))
    batch = [float(re.search(rf"^logscope_batch_seconds_{k} (\S+)$", text, re.M).group(1)) for k in ("sum", "count")]  # type: ignore[union-attr]
    return lines, batch[0], batch[1]


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope: the counted lines grow in steps of a batch, so two points alone mislead."""
    n = len(points)
    mt, mv = sum(t for t, _ in points) / n, sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / var if var else 0.0


def replay(lines: int) -> None:
    path = DATA / f"mcp-nginx-{lines}.log"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        write_nginx(path, lines)
    warm(path)
    seconds, peak = measure([sys.executable, "-m", "logscope", "watch", str(path), "--from-start", "--once", "--jsonl"])
    print(f" replay {lines:>11,} lines: {seconds:7.2f} s = {lines / seconds:>9,.0f} lines/s, peak RSS {peak:>7,.0f} MiB")


def follow(rate: int, seconds: float, clients_n: int = 20_000) -> None:
    port = 19000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        log.write_text("")
        watch = subprocess.Popen(
            [sys.executable, "-m", "logscope", "watch", str(log), "--jsonl", "--batch", "1", "--metrics", f"127.0.0.1:{port}",
             "--attempt-gap", str(GAP), "--stuck-after", "3", "--forget-after", "10m"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        arrivals: dict[str, float] = {}

        def read_events() -> None:
            assert watch.stdout is not None
            for line in watch.stdout:
                e = json.loads(line)
                if e["event"] == "client-stuck":
                    arrivals.setdefault(e["ip"], time.time())

        threading.Thread(target=read_events, daemon=True).start()
        time.sleep(3)  # the watch starts and opens the file
        rng = random.Random(1)
        clients = [(f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(UAS)) for _ in range(clients_n)]
        # Each client's line around its time stamp, made once: the writer shares the 2 cores with the watch.
        halves = []
        for ip, ua in clients:
            mcp = ua is not None and "Mozilla" not in ua
            before, after = _line(0, ip, "POST" if mcp else "GET", "/mcp" if mcp else "/", 200, ua).split(_stamp(0))
            halves.append((before, after))
        closing: dict[str, float] = {}  # stuck client -> when the line that closed its third attempt was written
        # Stuck clients, one every 2 s: three failed attempts 2.5 s apart (each POST 301 + GET 400; the log has
        # whole seconds, so attempts a gap of 1 s apart need 2 s between their stamps).
        schedule = sorted(
            (started_at + 2.5 * k, f"198.51.100.{i + 1}")
            for i, started_at in enumerate(x * 2.0 + 2.0 for x in range(int((seconds - 10) / 2)))
            for k in range(3)
        )
        last_attempt = {ip: at for at, ip in schedule}
        written, started, tick = 0, time.time(), 0.05
        scrapes: list[tuple[float, float]] = []
        with log.open("a") as out:
            while (now := time.time()) - started < seconds:
                due = int((now - started) * rate) - written
                stamp = _stamp(now)
                chunk = [stamp.join(halves[i]) for i in rng.choices(range(len(halves)), k=due)]
                while schedule and schedule[0][0] <= now - started:
                    _, ip = schedule.pop(0)
                    chunk += [_line(now, ip, "POST", "/mcp", 301, "MCP-Client/1.0"), _line(now, ip, "GET", "/mcp", 400, "MCP-Client/1.0")]
                out.write("".join(chunk))
                out.flush()
                written += len(chunk)
                for ip, at in list(last_attempt.items()):
                    if int(now) > int(started + at) + GAP:  # stamped a gap past the third attempt (whole seconds): they close it
                        closing[ip] = now
                        del last_attempt[ip]
                if int(2 * (now - started)) > len(scrapes):  # twice a second
                    try:
                        scrapes.append((time.time(), written, *_scrape(port)))
                    except OSError:
                        scrapes.append((time.time(), written, 0.0, 0.0, 0.0))
                time.sleep(tick)
        time.sleep(8)
        final = _scrape(port)[0]
        status = Path(f"/proc/{watch.pid}/status").read_text()
        peak = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) / 1024  # type: ignore[union-attr]
        watch.terminate()
        watch.wait(30)
    # The steady part: from 5 s into the writing (the watch has started and caught up) to its end.
    steady = [s for s in scrapes if s[0] - scrapes[0][0] >= 5 and s[2] > 0]
    sustained = _slope([(t, counted) for t, _, counted, _, _ in steady])
    backlogs = [w - counted for _, w, counted, _, _ in steady]
    first, last = steady[0], steady[-1]
    batches = last[4] - first[4]
    mean_batch = (last[3] - first[3]) / batches if batches else 0.0
    per_batch = (last[2] - first[2]) / batches if batches else 0.0
    delays = sorted(arrivals[ip] - closing[ip] for ip in closing if ip in arrivals)
    print(
        f" follow {rate:>9,} lines/s from {len(clients):,} clients for {seconds:.0f} s: "
        f"the watch counted {sustained:>9,.0f} lines/s while written "
        f"(slope over {len(steady)} scrapes); not yet counted: at most {max(backlogs):,.0f} lines "
        f"({max(backlogs) / rate:.1f} s of writing), {backlogs[-1]:,.0f} at the end; {final:,.0f} of {written:,} lines in all; "
        f"peak RSS {peak:,.0f} MiB"
    )
    print(
        f" batches: {batches:.0f} in the steady part, {per_batch:,.0f} lines each, analysed in {mean_batch:.2f} s on average "
        f"(busy {mean_batch * batches / (last[0] - first[0]):.0%} of the time)"
    )
    if delays:
        print(
            f" client-stuck events: {len(delays)} of {len(closing)}, from the closing line's write to the event: "
            f"median {delays[len(delays) // 2]:.2f} s, max {delays[-1]:.2f} s"
        )
    else:
        print(f" client-stuck events: none of {len(closing)} arrived")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay-lines", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20_000, help="distinct clients the followed lines come from")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    if args.replay_lines:
        replay(args.replay_lines)
    follow(args.rate, args.seconds, args.clients)


if __name__ == "__main__":
    main()
