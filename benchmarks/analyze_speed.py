#!/usr/bin/env python3
"""End-to-end speed and memory of `logscope analyze` (parse, flows, inventory, findings, JSON and HTML).

    python benchmarks/analyze_speed.py                       # 1M, 2M and 10M lines, nginx combined and Caddy JSON
    python benchmarks/analyze_speed.py --sizes 1000000 --formats nginx
    python benchmarks/analyze_speed.py --lines-per-shard 1000000   # read in shards: memory bounded by a shard
    python benchmarks/analyze_speed.py --sizes 1000000,2000000 --formats nginx,caddy,alb,cloudflare --repeat 3

For each size and format it writes benchmarks/data/mcp-<format>-<N>.log once (realistic MCP traffic:
many clients and sessions, HTTP->HTTPS redirect loops, a few stuck clients, browsers and scanners), runs
the installed `logscope analyze FILE --json … --html …` under /usr/bin/time -v (or os.wait4 where that
is missing), the file read once beforehand so that no tool pays for the disk, and prints wall time,
lines per second and peak memory. When Debian's goaccess is installed
it also runs `goaccess FILE --log-format=COMBINED -o report.html` on the nginx file and prints the ratio;
when it is not, it says so. Where the duckdb package is installed, an expert's ad-hoc DuckDB query over the same
file (parse, then per client its requests, failures and first time) runs beside them; `--repeat N` alternates the
tools N times and prints medians. Files over 2 GiB are read in shards (logscope's default, printed);
`--lines-per-shard` sets `--shards` for every size, to show memory bounded by a shard. Other sizes than
the default ones work too (`--sizes 30000000`). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from stage_times import stage_line

from logscope.runners.shards import automatic_shards

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
UAS = [
    "python-httpx/0.28.1",
    "node",
    "claude-code/2.1.204 (cli)",
    "openai-mcp/1.0.0",
    "Go-http-client/1.1",
    "Cursor/1.7.2",
    None,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36",
]


def traffic(lines: int, seed: int = 7):
    """Yield (ts, ip, method, target, status, size, duration, ua, https) in time order, `lines` of them."""
    rng = random.Random(seed)
    clients = [
        (f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(UAS)) for _ in range(50_000)
    ]
    stuck = clients[:20]  # POST over HTTP -> 301 -> GET -> 400, all the time
    t = datetime(2026, 5, 16, tzinfo=UTC)
    step = timedelta(seconds=7 * 86400 / lines)
    n = 0
    while n < lines:
        t += step * 8
        if rng.random() < 0.05:
            ip, ua = rng.choice(stuck)
            yield t, ip, "POST", "/mcp", 301, 0, 0.0, ua, False
            yield t + step, ip, "GET", "/mcp", 400, 0, 0.001, ua, True
            n += 2
            continue
        ip, ua = clients[rng.randrange(len(clients))]
        if ua and ua.startswith("Mozilla"):
            for path in ("/", "/static/app.js", "/favicon.ico"):
                yield t, ip, "GET", path, 200, rng.randint(500, 40000), 0.01, ua, True
            n += 3
            continue
        session = [("POST", "/mcp", 200), ("POST", "/mcp", 202), ("POST", "/mcp", 200), ("POST", "/mcp", 200)]
        if rng.random() < 0.2:
            session.append(("GET", "/mcp", 200))
        for k, (method, path, status) in enumerate(session):
            yield t + step * k / 8, ip, method, path, status, rng.randint(50, 9000), round(rng.uniform(0.005, 0.5), 3), ua, True
        n += len(session)


BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148"
    " Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Mobile Safari/537.36",
]
CRAWLERS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
]
SCANNERS = ["Mozilla/5.0 zgrab/0.x", "curl/8.5.0", None, "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"]
PROBES = ["/.env", "/wp-login.php", "/phpmyadmin/index.php", "/.git/config", "/admin", "/cgi-bin/luci", "/xmlrpc.php", "/actuator/health"]
ASSETS = ["/static/app.{v}.js", "/static/app.{v}.css", "/static/logo.svg", "/fonts/inter.woff2", "/favicon.ico"]


def website_traffic(lines: int, seed: int = 11):
    """A website's ordinary day with an MCP endpoint beside it: about 95% of lines are browsers (pages and
    their assets, over many distinct paths and query strings), crawlers, scanners and health checks, and 5%
    MCP traffic from `traffic` (sessions, redirect loops, stuck clients). Same tuples as `traffic`."""
    rng = random.Random(seed)
    mcp = traffic(lines, seed)
    visitors = [
        (f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(BROWSERS))
        for _ in range(60_000)
    ]
    crawlers = [(f"66.249.{rng.randint(64, 95)}.{rng.randint(1, 254)}", rng.choice(CRAWLERS)) for _ in range(40)]
    scanners = [
        (f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(SCANNERS))
        for _ in range(300)
    ]

    def blog() -> str:
        return f"/blog/{rng.randint(1, 40_000)}-notes"

    def product() -> str:
        return f"/products/{rng.randint(1, 90_000)}"

    t = datetime(2026, 5, 16, tzinfo=UTC)
    step = timedelta(seconds=7 * 86400 / lines)
    n = 0
    while n < lines:
        t += step
        r = rng.random()
        if r < 0.11:  # one line of MCP traffic (itself partly browsers): about 5% of the lines in all
            record = next(mcp)
            yield (t, *record[1:])
            n += 1
        elif r < 0.80:  # a page and what it loads
            ip, ua = visitors[rng.randrange(len(visitors))]
            page = rng.choice(
                ["/", f"/blog/{rng.randint(1, 40_000)}-notes", f"/products/{rng.randint(1, 90_000)}", f"/search?q={rng.randint(1, 10**6)}"]
            )
            yield t, ip, "GET", page, 200 if rng.random() < 0.97 else 404, rng.randint(4_000, 90_000), 0.02, ua, True
            n += 1
            for asset in rng.sample(ASSETS, rng.randint(0, 3)):
                yield (
                    t,
                    ip,
                    "GET",
                    asset.format(v=rng.randint(1, 30)),
                    304 if rng.random() < 0.4 else 200,
                    rng.randint(0, 200_000),
                    0.002,
                    ua,
                    True,
                )
                n += 1
        elif r < 0.90:  # crawlers walk distinct paths
            ip, ua = crawlers[rng.randrange(len(crawlers))]
            path = rng.choice(
                [f"/blog/{rng.randint(1, 40_000)}-notes", f"/products/{rng.randint(1, 90_000)}", "/robots.txt", "/sitemap.xml"]
            )
            yield t, ip, "GET", path, 200, rng.randint(2_000, 60_000), 0.05, ua, True
            n += 1
        elif r < 0.96:  # scanners probe for what is not there, often over plain HTTP
            ip, ua = scanners[rng.randrange(len(scanners))]
            https = rng.random() < 0.5
            yield t, ip, "GET", rng.choice(PROBES), 404 if https else 301, 150, 0.001, ua, https
            n += 1
        else:  # the load balancer's health check
            yield t, "10.0.0.2", "GET", "/healthz", 200, 2, 0.0, "ELB-HealthChecker/2.0", False
            n += 1


def write_lines(path: Path, lines: Iterator[str]) -> None:
    """Write lines in large batches (the files run to gigabytes); the file appears only when whole, so
    an interrupted run never leaves a short log behind to be measured as if whole."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        while batch := list(islice(lines, 100_000)):
            out.writelines(batch)
    partial.rename(path)


def nginx_line(ts: datetime, ip: str, method: str, target: str, status: int, size: int, _d: float, ua: str | None, _https: bool) -> str:
    return f'{ip} - - [{ts.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "{method} {target} HTTP/1.1" {status} {size} "-" "{ua or "-"}"\n'


def write_nginx(path: Path, lines: int) -> None:
    write_lines(path, (nginx_line(*record) for record in islice(traffic(lines), lines)))


def caddy_line(
    ts: datetime, ip: str, method: str, target: str, status: int, size: int, duration: float, ua: str | None, https: bool
) -> str:
    request = {
        "remote_ip": ip,
        "remote_port": "51234",
        "client_ip": ip,
        "proto": "HTTP/1.1",
        "method": method,
        "host": "mcp.example.net",
        "uri": target,
        "headers": {"User-Agent": [ua]} if ua else {},
    }
    resp = {"Server": ["Caddy"]}
    if https:
        request["tls"] = {"resumed": False, "version": 772, "cipher_suite": 4865, "proto": "http/1.1"}
        resp["Strict-Transport-Security"] = ["max-age=31536000; includeSubDomains"]
    if status == 301:
        resp["Location"] = [f"https://mcp.example.net{target}"]
    record = {
        "level": "info",
        "ts": ts.timestamp(),
        "logger": "http.log.access.log0",
        "msg": "handled request",
        "request": request,
        "duration": duration,
        "size": size,
        "status": status,
        "resp_headers": resp,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def write_caddy(path: Path, lines: int) -> None:
    write_lines(path, (caddy_line(*record) for record in islice(traffic(lines), lines)))


def _edge_writer(kind: str):
    """ALB text or Cloudflare Logpush JSON lines of the same traffic, as sample_logs/generate.py writes each edge."""
    sys.path.insert(0, str(HERE.parent / "sample_logs"))
    import generate

    line = {"alb": generate.alb_line, "cloudflare": generate.cloudflare_line}[kind]

    def write(path: Path, lines: int) -> None:
        records = islice(traffic(lines), lines)
        write_lines(
            path, (line(generate.Request(ts, ip, m, t, st, ua, https, size, d)) + "\n" for ts, ip, m, t, st, size, d, ua, https in records)
        )

    return write


#: An expert's ad-hoc query with DuckDB over the same file: parse the fields a per-client summary needs, then per
#: client its requests, its failures (4xx/5xx) and its first time. What logscope does (and much more) in one query.
DUCKDB_QUERIES = {
    "nginx": r"""
        with lines as (select regexp_extract(line, '^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"',
                                             ['ip', 'time', 'method', 'path', 'status', 'ua']) as f
                       from read_csv('{path}', columns={'line': 'VARCHAR'}, delim='\x01', quote='', escape='', header=false))
        select f.ip, f.ua, count(*) as requests, count(*) filter (where f.status >= '400') as failures, min(f.time) as first
        from lines group by all""",
    "caddy": """
        select request.remote_ip as ip, request.headers."User-Agent"[1] as ua, count(*) as requests,
               count(*) filter (where status >= 400) as failures, min(ts) as first
        from read_json('{path}', format='newline_delimited', columns={ts: 'DOUBLE', status: 'INTEGER',
             request: 'STRUCT(remote_ip VARCHAR, method VARCHAR, uri VARCHAR, headers STRUCT("User-Agent" VARCHAR[]))'})
        group by all""",
}
DUCKDB_RUN = "import duckdb, sys; print(duckdb.sql(sys.argv[1]).to_arrow_table().num_rows)"


def write_website_nginx(path: Path, lines: int) -> None:
    write_lines(path, (nginx_line(*record) for record in islice(website_traffic(lines), lines)))


def warm(path: Path) -> None:
    """Read the file once so every tool timed on it finds it in the page cache (none pays for the disk)."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of a command, by /usr/bin/time -v where present, else os.wait4."""
    time_bin = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if time_bin:
        start = time.perf_counter()
        result = subprocess.run([time_bin, "-v", *command], capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode not in (0, 1):
            raise SystemExit(f"{command[0]} failed: {result.stderr[-2000:]}")
        peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))  # type: ignore[union-attr]
        return wall, peak_kb / 1024
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{command[0]} failed with status {os.waitstatus_to_exitcode(status)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,2000000,10000000")
    parser.add_argument("--formats", default="nginx,caddy")
    parser.add_argument(
        "--lines-per-shard", type=int, default=0, help="run logscope with --shards so that each shard holds about this many lines"
    )
    parser.add_argument("--skip-goaccess", action="store_true", help="do not run GoAccess (it takes minutes on large files)")
    parser.add_argument(
        "--website-sizes", default="2000000", help="sizes of the realistic mix (95%% a website's own traffic, 5%% MCP), nginx; 0: none"
    )
    parser.add_argument("--goaccess-max", type=int, default=2_000_000, help="run GoAccess on files up to this many lines")
    parser.add_argument("--skip-duckdb", action="store_true", help="do not run the DuckDB ad-hoc query beside logscope")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tool, alternating; medians are printed")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    logscope = shutil.which("logscope", path=str(Path(sys.executable).parent)) or "logscope"
    goaccess = None if args.skip_goaccess else shutil.which("goaccess")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(
        "goaccess: "
        + (
            subprocess.run([goaccess, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
            if goaccess
            else "skipped (--skip-goaccess)"
            if args.skip_goaccess
            else "not installed (apt-get install goaccess to compare)"
        )
    )
    walls: dict[tuple[str, int], float] = {}
    peaks: dict[tuple[str, int], float] = {}
    ratios: dict[tuple[str, int], float] = {}
    peers: dict[tuple[str, str, int], float] = {}
    runs = [(fmt, int(size)) for fmt in args.formats.split(",") for size in args.sizes.split(",")]
    runs += [("website", int(size)) for size in args.website_sizes.split(",") if int(size)]
    writers = {
        "nginx": write_nginx,
        "caddy": write_caddy,
        "website": write_website_nginx,
        "alb": _edge_writer("alb"),
        "cloudflare": _edge_writer("cloudflare"),
    }
    duckdb_ok = not args.skip_duckdb and subprocess.run([sys.executable, "-c", "import duckdb"], capture_output=True).returncode == 0
    for fmt, size in runs:
        if True:
            path = DATA / (f"website-nginx-{size}.log" if fmt == "website" else f"mcp-{fmt}-{size}.log")
            if not path.exists():
                t = time.perf_counter()
                writers[fmt](path, size)
                print(f"generated {path.name} ({path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.0f} s", flush=True)
            out = DATA / f"out-{fmt}-{size}"
            out.mkdir(exist_ok=True)
            warm(path)
            shards = -(-size // args.lines_per_shard) if args.lines_per_shard else automatic_shards([str(path)])
            sharding = ["--shards", str(shards)] if args.lines_per_shard else []
            command = [logscope, "analyze", str(path), "--quiet", "--json", str(out / "report.json"), "--html", str(out / "report.html")]
            tools = {"logscope": [*command, *sharding]}
            if goaccess and fmt in ("nginx", "website") and size <= args.goaccess_max:
                tools["goaccess"] = [goaccess, str(path), "--log-format=COMBINED", "-o", str(out / "goaccess.html")]
            if duckdb_ok and fmt in DUCKDB_QUERIES and size <= args.goaccess_max:
                tools["duckdb"] = [sys.executable, "-c", DUCKDB_RUN, DUCKDB_QUERIES[fmt].replace("{path}", str(path))]
            runs_of: dict[str, list[tuple[float, float]]] = {name: [] for name in tools}
            for _ in range(args.repeat):  # alternating, so that the machine's drift falls on every tool alike
                for name, argv in tools.items():
                    warm(path)
                    runs_of[name].append(measure(argv))
            wall, peak = median(runs_of["logscope"])
            walls[fmt, size], peaks[fmt, size] = wall, peak
            line = f"{fmt:>10} {size:>11,} lines: logscope analyze {wall:7.2f} s = {size / wall:>11,.0f} lines/s, peak RSS {peak:7,.0f} MiB"
            line += f", {shards} shards" if shards > 1 else ""
            for name in ("goaccess", "duckdb"):
                if name in runs_of:
                    p_wall, p_peak = median(runs_of[name])
                    peers[name, fmt, size] = p_wall
                    line += f"; {name} {p_wall:.2f} s, peak {p_peak:,.0f} MiB (logscope / {name}: {wall / p_wall:.2f})"
            if "goaccess" in runs_of:
                ratios[fmt, size] = peers["goaccess", fmt, size] / wall
            print(line + (f"  [median of {args.repeat}]" if args.repeat > 1 else ""), flush=True)
    for fmt in args.formats.split(","):
        sizes = sorted(size for f, size in walls if f == fmt)
        if len(sizes) > 1:
            small, large = sizes[0], sizes[-1]
            growth = walls[fmt, large] / walls[fmt, small]
            print(f"{fmt:>7} growth {small:,} -> {large:,} lines ({large / small:.0f}x the lines): {growth:.1f}x the time")
    print_targets(walls, peaks, ratios)
    print_third_pass(walls, peaks, ratios, peers)
    print_startup()


def print_targets(walls: dict[tuple[str, int], float], peaks: dict[tuple[str, int], float], ratios: dict[tuple[str, int], float]) -> None:
    """Issue 18's targets, met or not, from the runs above (a target whose runs were not made is skipped).
    Under a missed target: where that log's time goes, stage by stage (benchmarks/stage_times.py, one run)."""

    def verdict(ok: bool, log: str | None = None) -> str:
        if ok or log is None:
            return "met" if ok else "MISSED"
        return f"MISSED; where the time goes, {stage_line(DATA / log)}"

    print("targets (issue 18):")
    worst = max((size for fmt, size in ratios if fmt == "nginx"), default=None)
    if worst:
        r = ratios["nginx", worst]
        print(f"  every line MCP, {worst:,} lines: {r:.1f}x GoAccess (target 10x): {verdict(r >= 10, f'mcp-nginx-{worst}.log')}")
    mix = max((size for fmt, size in ratios if fmt == "website"), default=None)
    if mix:
        r = ratios["website", mix]
        print(f"  website mix (5% MCP), {mix:,} lines: {r:.1f}x GoAccess (target 20x): {verdict(r >= 20, f'website-nginx-{mix}.log')}")
    if ("nginx", 10_000_000) in walls:
        w, m = walls["nginx", 10_000_000], peaks["nginx", 10_000_000]
        print(f"  10M lines: {w:.1f} s, peak {m:,.0f} MiB (target 15 s, 2 GB): {verdict(w <= 15 and m <= 2000, 'mcp-nginx-10000000.log')}")
        if ("nginx", 1_000_000) in walls:
            g = w / walls["nginx", 1_000_000]
            print(f"  1M -> 10M lines: {g:.1f}x the time (target at most 11x): {verdict(g <= 11)}")


def median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The median wall time of some runs, with the peak memory of that run."""
    return sorted(runs)[len(runs) // 2]


def print_third_pass(
    walls: dict[tuple[str, int], float], peaks: dict[tuple[str, int], float], ratios: dict[tuple[str, int], float], peers: dict
) -> None:
    """Issue 28's targets, from the runs above (each one skipped when its runs were not made). Under a missed
    one: the stage that holds it back, from one run of benchmarks/stage_times.py on that log."""

    def verdict(ok: bool, log: str) -> str:
        return "met" if ok else f"MISSED; where the time goes, {stage_line(DATA / log)}"

    print("targets (issue 28):")
    if ("caddy", 1_000_000) in walls:
        w = walls["caddy", 1_000_000]
        print(f"  Caddy JSON, 1M lines: {w:.2f} s (target 2.2 s): {verdict(w <= 2.2, 'mcp-caddy-1000000.log')}")
    nginx = max((size for fmt, size in walls if fmt == "nginx" and size <= 3_000_000), default=None)
    if nginx and ("duckdb", "nginx", nginx) in peers:
        r = walls["nginx", nginx] / peers["duckdb", "nginx", nginx]
        missed = verdict(r <= 1.0, f"mcp-nginx-{nginx}.log")
        print(f"  nginx, {nginx:,} lines: logscope / DuckDB ad-hoc {r:.2f} (target at most 1.0): {missed}")
    if nginx and ("nginx", nginx) in ratios:
        r = ratios["nginx", nginx]
        print(f"  nginx, {nginx:,} lines: {r:.1f}x GoAccess (target at least 6x): {'met' if r >= 6 else 'MISSED (stages above)'}")
    if ("nginx", 10_000_000) in walls:
        w, m = walls["nginx", 10_000_000], peaks["nginx", 10_000_000]
        print(f"  10M lines: {w:.1f} s, peak {m:,.0f} MiB (target 10 s, 2 GB): {verdict(w <= 10 and m <= 2000, 'mcp-nginx-10000000.log')}")
    for edge in ("alb", "cloudflare"):
        size = max((size for fmt, size in walls if fmt == edge and ("nginx", size) in walls), default=None)
        if size:
            mine, theirs = size / walls[edge, size], size / walls["nginx", size]
            print(f"  {edge}, {size:,} lines: {mine:,.0f} lines/s, nginx {theirs:,.0f} (target at least nginx's): ", end="")
            print(verdict(mine >= theirs, f"mcp-{edge}-{size}.log"))


def print_startup() -> None:
    """The fourth target: `logscope --help` and `--version` (benchmarks/startup.py, 11 runs each)."""
    from startup import timed

    logscope = shutil.which("logscope", path=str(Path(sys.executable).parent)) or "logscope"
    for args in (["--version"], ["--help"]):
        s = sorted(timed([logscope, *args], 11))
        median = s[len(s) // 2]
        print(f"  logscope {args[0]}: median {median:.3f} s (target under 0.3 s): {'met' if median < 0.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
