"""A large generated log whose right answers are known by construction, not by running logscope.

Each client follows a script (connects, is stuck in the 301 loop, degrades, fails a few times, browses);
the expected outcome, attempt counts and transport of every client follow from its script. Speed-ups of
the parser, the flows or the report must leave every one of these answers as it is: the log is read in
many small blocks, through gzip, and from a store written by `logscope convert`.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from logscope.analysis import analyze, diagnose
from logscope.flows import client_id
from logscope.ingest import read_logs
from logscope.report.json_report import build_report
from logscope.runners.convert import write_store

from .conftest import same_report

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

START = datetime(2026, 5, 16, tzinfo=UTC)
GAP = timedelta(seconds=90)  # between attempts: longer than the 30 s attempt gap


@dataclass
class Expected:
    outcome: str
    attempts: int
    successful: int
    transport: str


def _line(ts: datetime, ip: str, method: str, path: str, status: int, ua: str | None) -> tuple[datetime, str]:
    stamp = ts.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return ts, f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {0 if status >= 300 else 512} "-" "{ua or "-"}"\n'


def scripted_log(clients: int = 10_000, seed: int = 11) -> tuple[list[str], dict[str, Expected]]:
    """Lines in time order and the expected answer per client id."""
    rng = random.Random(seed)
    agents = ["python-httpx/0.28.1", "node", "claude-code/2.1.204 (cli)", "Go-http-client/1.1", None]
    lines: list[tuple[datetime, str]] = []
    expected: dict[str, Expected] = {}
    for n in range(clients):
        ip = f"10.{n // 65536}.{(n // 256) % 256}.{n % 256 + 1}" if n % 7 else f"2001:db8::{n:x}"
        ua = agents[n % len(agents)]
        t = START + timedelta(seconds=rng.randrange(0, 3 * 86400))
        kind = n % 10
        if kind in (0, 1, 2, 3, 4):  # connected over HTTPS: every attempt succeeds
            k = rng.randint(1, 8)
            for _ in range(k):
                for step, (method, status) in enumerate((("POST", 200), ("POST", 202), ("POST", 200))):
                    lines.append(_line(t + timedelta(seconds=step), ip, method, "/mcp", status, ua))
                t += GAP
            expected[client_id(ip, ua)] = Expected("connected", k, k, "https-only")
        elif kind in (5, 6):  # stuck: POST over HTTP -> 301 -> GET over HTTPS -> 400, 10 to 40 times
            k = rng.randint(10, 40)
            for _ in range(k):
                lines.append(_line(t, ip, "POST", "/mcp", 301, ua))
                lines.append(_line(t + timedelta(seconds=1), ip, "GET", "/mcp", 400, ua))
                t += GAP
            expected[client_id(ip, ua)] = Expected("stuck", k, 0, "starts-http")
        elif kind == 7:  # degraded: half of its attempts fail with 500
            k = 2 * rng.randint(2, 6)
            for i in range(k):
                lines.append(_line(t, ip, "POST", "/mcp", 200 if i % 2 == 0 else 500, ua))
                t += GAP
            expected[client_id(ip, ua)] = Expected("degraded", k, k // 2, "https-only")
        elif kind == 8:  # failing: a few 404s, fewer than the 10 that make it stuck
            k = rng.randint(1, 9)
            for _ in range(k):
                lines.append(_line(t, ip, "POST", "/mcp", 404, ua))
                t += GAP
            expected[client_id(ip, ua)] = Expected("failing", k, 0, "https-only")
        else:  # a browser: not MCP at all
            browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36"
            for path in ("/", "/static/app.js", "/favicon.ico"):
                lines.append(_line(t, ip, "GET", path, 200, browser))
                t += timedelta(seconds=rng.randint(1, 5))
            expected[client_id(ip, browser)] = Expected("not-mcp", 0, 0, "https-only")
    lines.sort(key=lambda x: x[0])  # stable: a client's own lines keep their order
    return [text for _, text in lines], expected


@pytest.fixture(scope="module")
def large_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    lines, expected = scripted_log()
    path = tmp_path_factory.mktemp("large") / "access.log.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(lines)
    return path, expected


def _check(clients: pl.DataFrame, expected: dict[str, Expected]) -> None:
    got = {
        row["client_id"]: Expected(row["outcome"], row["attempts"], row["successful_attempts"], row["transport"])
        for row in clients.iter_rows(named=True)
    }
    assert set(got) == set(expected)
    wrong = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not wrong, f"{len(wrong)} clients differ, e.g. {next(iter(wrong.items()))}"


def test_every_client_gets_its_scripted_answer(large_log: tuple[Path, dict[str, Expected]]) -> None:
    path, expected = large_log
    analysis = analyze(path)
    assert analysis.ingest.inputs[0].rejected == 0
    _check(analysis.clients, expected)
    stuck = {k for k, v in expected.items() if v.outcome == "stuck"}
    downgrade = next(f for f in analysis.findings if f.code == "redirect-method-downgrade")
    assert set(downgrade.clients) == stuck and downgrade.severity == "critical"


def test_small_blocks_and_a_store_give_the_same_answers(large_log: tuple[Path, dict[str, Expected]], tmp_path: Path) -> None:
    path, expected = large_log
    # About 200 blocks instead of one: block edges must not split clients, attempts or redirects.
    in_blocks = diagnose(read_logs(path, block_bytes=64 * 1024))
    _check(in_blocks.clients, expected)
    write_store(read_logs(path), tmp_path / "store")
    from_store = analyze(tmp_path / "store")
    _check(from_store.clients, expected)
    assert build_report(from_store)["findings"] == build_report(in_blocks)["findings"]


def test_shards_give_the_same_answers(large_log: tuple[Path, dict[str, Expected]], tmp_path: Path) -> None:
    """Read in shards of clients (one in memory at a time), from the log or from a store: same answers."""
    path, expected = large_log
    whole = build_report(analyze(path))
    sharded = analyze(path, shards=4)
    _check(sharded.clients, expected)
    assert same_report(whole, build_report(sharded))
    write_store(read_logs(path), tmp_path / "store")
    assert same_report(whole, build_report(analyze(tmp_path / "store", shards=3)))
