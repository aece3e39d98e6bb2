"""Logs read in shards of clients (for logs larger than memory) give the answers of reading them whole.

The detector scenarios (test_detectors) and the scripted large log (test_large_log) are also read in
shards; here: several inputs, real logs of every server, the CLI, the automatic choice, the spill files.
"""

from __future__ import annotations

import gc
import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from logscope.analysis import analyze
from logscope.flows import FlowOptions
from logscope.ingest import read_logs
from logscope.report.json_report import build_report
from logscope.runners import shards as shards_module
from logscope.runners.shards import SHARD_BYTES, WHOLE_BYTES, automatic_shards
from logscope.runners.sources import ReadBudget, TooLargeToReadWhole

from .conftest import REALDATA, SAMPLES, run_cli, same_report, validate_report

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

SEED_LOGS = [SAMPLES / "mcp-seed.caddy.json", SAMPLES / "mcp-seed.access.log"]
# One real log of each server and layout: scheme logged (Caddy, Traefik JSON) and inferred (combined).
REAL = [
    "caddy/hannah_xiang_jewelry_caddy_access.json",
    "traefik/ticketingonthefly_traefik_clf_access_redirects.log",
    "traefik/team_k_backend_traefik_v3_access.json",
    "apache/crowdsec_hub_apache2_logs.log",
    "json/jakkaret_waf_project_nginx_json_combined_access.json",
    "caddy/jasontgai_retirement_caddy_console_access-2026-08-06.log.gz",
]


@pytest.mark.parametrize("shards", [2, 7])
def test_seed_logs_in_shards(shards: int) -> None:
    whole = build_report(analyze(SEED_LOGS))
    sharded = build_report(analyze(SEED_LOGS, shards=shards))
    validate_report(sharded)
    assert whole["findings"] and whole["totals"]["stuck_clients"] == 2  # the seed's diagnosis, not an empty report
    assert same_report(whole, sharded)


@pytest.mark.parametrize("name", REAL)
def test_real_logs_in_shards(name: str) -> None:
    path = REALDATA / name
    whole = build_report(analyze(path))
    assert whole["totals"]["requests"] > 0
    assert same_report(whole, build_report(analyze(path, shards=3)))


def test_options_apply_in_every_shard(tmp_path: Path) -> None:
    """Forwarded addresses decide the shard: a client reaching the server through two proxies stays
    whole (sharded by the proxies' addresses, its redirects and failed GETs would part). Anonymized too."""
    lines = [
        f'10.0.0.{1 + s % 2} - - [20/May/2026:20:{m:02d}:{s:02d} +0000] "POST /mcp HTTP/1.1" {status} 5 "-" "agent/{c}" "203.0.113.{c}"\n'
        for m in range(3)
        for c in range(12)
        for s, status in ((c, 301), (c + 1, 400))
    ]
    log = tmp_path / "proxied.log"
    log.write_text("".join(sorted(lines, key=lambda x: x.split("[")[1])))
    fmt = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" '
    fmt += '"$http_x_forwarded_for"'
    from logscope import FormatChoice

    choice = FormatChoice(log_format=fmt)
    options = FlowOptions(trust_forwarded=True)
    whole = build_report(analyze(log, choice, options, anonymize=True))
    assert whole["totals"]["clients"] == 12
    assert same_report(whole, build_report(analyze(log, choice, options, anonymize=True, shards=4)))


def test_cli_shards_and_spill_dir(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    args = [*map(str, SEED_LOGS), "--json", "-", "-q", "--no-html"]
    whole = json.loads(run_cli("analyze", *args).stdout)
    sharded = run_cli("analyze", *args, "--shards", "5", "--spill-dir", str(spill))
    assert sharded.returncode == 0, sharded.stderr
    assert same_report(whole, json.loads(sharded.stdout))
    assert list(spill.iterdir()) == []  # the shards are gone once the report is written
    for bad, message in (
        (["--shards", "0"], "--shards must be between 1 and 4096"),
        (["--shards", "5000"], "--shards must be between 1 and 4096"),
        (["--spill-dir", str(tmp_path / "no")], "--spill-dir"),
    ):
        result = run_cli("analyze", *args, *bad)
        assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr


def test_shards_stay_on_disk_while_the_analysis_lives(tmp_path: Path) -> None:
    analysis = analyze(SEED_LOGS, shards=3, spill_dir=tmp_path)
    whole = analyze(SEED_LOGS)
    (spilled,) = tmp_path.iterdir()
    assert sorted(p.name for p in spilled.glob("annotated-*.parquet"))  # evidence and requests are read from here
    assert sorted(p.name for p in spilled.glob("attempts-*.parquet"))
    requests = analysis.requests
    assert requests.height == whole.requests.height
    key = ["source", "line", "client_id", "status", "scheme_eff", "role"]
    assert requests.select(key).equals(whole.requests.select(key))  # the same requests, in the same (log) order
    assert analysis.scan_requests().select(pl.len()).collect().item() == whole.requests.height
    # Attempts are on disk too (numbered per shard, so compared by what they are, not their number).
    columns = ["client_id", "start", "end", "requests", "endpoint_requests", "deciding_status", "success", "counted"]
    by = ["client_id", "start"]
    assert analysis.flows.attempts.select(columns).sort(by).equals(whole.flows.attempts.select(columns).sort(by))
    assert analysis.scan_attempts().select(pl.len()).collect().item() == whole.flows.attempts.height
    del analysis, requests
    gc.collect()
    assert not spilled.exists()


def test_automatic_shards(tmp_path: Path) -> None:
    small = tmp_path / "small.log"
    small.write_text((SAMPLES / "mcp-seed.access.log").read_text())
    assert automatic_shards([str(small), "-"]) == 1
    # Sparse files: the size of a large log without its bytes.
    large = tmp_path / "large.log"
    with large.open("wb") as f:
        f.truncate(WHOLE_BYTES + SHARD_BYTES // 2)
    assert automatic_shards([str(large)]) == 3
    assert automatic_shards([str(tmp_path / "*.log")]) == 3
    packed = tmp_path / "old.log.gz"
    with packed.open("wb") as f:
        f.write(b"\x1f\x8b\x08\x00")  # gzip, known by its first bytes; its trailer's ISIZE (0) tells nothing
        f.truncate(WHOLE_BYTES // 4)  # so it counts for the log it unpacks to at about 8x
    assert automatic_shards([str(packed)]) == 4
    sized = tmp_path / "sized.gz"  # a small gzip whose trailer says it reads as 2.5 GiB (modulo 4 GiB)
    with sized.open("wb") as f:
        f.write(b"\x1f\x8b\x08\x00")
        f.truncate(1 << 20)
        f.seek(-4, 2)
        f.write((WHOLE_BYTES + SHARD_BYTES // 2).to_bytes(4, "little"))
    assert automatic_shards([str(sized)]) == 3
    # A store counts as the log its requests came from (its Parquet is some 16 times smaller).
    store = tmp_path / "store"
    store.mkdir()
    (store / "logscope-inputs.json").write_text(json.dumps({"version": 1, "requests": 50_000_000, "inputs": []}))
    assert automatic_shards([str(store)]) == 6


def test_a_gzip_bomb_is_read_in_shards_once_it_expands_past_reading_whole(tmp_path: Path, monkeypatch) -> None:
    """Issue 24, item 9: a .gz that expands far beyond its guess (here 48 MiB from 0.3 MiB, against a
    limit of 16 MiB for reading whole) stops being read whole as soon as it passes the limit and is
    read in shards from the start, as a plain file of that size would be: the same report."""
    monkeypatch.setattr(shards_module, "WHOLE_BYTES", 16 << 20)  # the machine's limits, scaled down 128 times
    monkeypatch.setattr(shards_module, "SHARD_BYTES", 8 << 20)
    lines = (SAMPLES / "mcp-seed.access.log").read_bytes().splitlines(keepends=True)
    chunk = b"".join(lines[:100])  # repeated within gzip's 32 KiB window: it packs some 200 times
    unpacked = chunk * (48 * 2**20 // len(chunk)) + b"".join(lines[100:110])
    bomb = tmp_path / "bomb.log.gz"
    # Two gzip members, as `cat a.gz b.gz` makes: the trailer's ISIZE is the small last one's.
    bomb.write_bytes(gzip.compress(unpacked[: -len(b"".join(lines[100:110]))]) + gzip.compress(b"".join(lines[100:110])))
    assert bomb.stat().st_size * 8 < 16 << 20 < len(unpacked)  # its guess is to read it whole; it is not
    assert automatic_shards([str(bomb)]) == 1
    read = analyze(bomb)
    assert read.sharded is not None and len(read.sharded.written) >= 5  # shards sized from what it unpacked to (48 MiB: 6)
    assert same_report(build_report(read), build_report(analyze(bomb, shards=1)))  # told to read it whole, it does
    plain = tmp_path / "plain.log"
    plain.write_bytes(unpacked)
    assert analyze(plain).sharded is not None  # as a plain file of its size is
    # The library's own step: the size is estimated again as the bytes come out of gzip, from their
    # ratio, so the bomb is caught in its first blocks (of 256 KiB here; 32 MiB by default), not at the limit.
    with pytest.raises(TooLargeToReadWhole) as raised:
        read_logs(bomb, budget=ReadBudget(16 << 20, {}), block_bytes=256 << 10)
    assert raised.value.read < 2 << 20  # of 48 MiB, against a limit of 16 MiB
    assert 50 < raised.value.ratio < 2 * len(unpacked) / bomb.stat().st_size


@pytest.mark.parametrize("packed", [False, True])
def test_standard_input_goes_to_shards_once_it_passes_reading_whole(tmp_path: Path, monkeypatch, packed: bool) -> None:
    """Standard input's length is unknown and it cannot be read twice: it is read whole until its parsed rows
    take STDIN_WHOLE_ROWS_BYTES of memory, then those rows and every later block go to shards as the stream is read, so
    memory stays bounded however long it runs. The report is the one reading it whole gives (plain or gzip)."""
    import io
    import sys

    from logscope import analysis as analysis_module
    from logscope.runners.shards import STDIN_SHARDS, WholeUntilTooLarge

    log = tmp_path / ("seed.log.gz" if packed else "seed.log")
    text = (SAMPLES / "mcp-seed.access.log").read_bytes()
    log.write_bytes(gzip.compress(text) if packed else text)

    def from_stdin() -> object:
        with open(log, "rb") as stream:  # a real file as standard input, as `logscope analyze - < seed.log` has it
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream))
            return analyze("-")

    whole = from_stdin()
    assert whole.sharded is None  # 0.7 MB: read whole
    monkeypatch.setattr(analysis_module, "BLOCK_BYTES", 64 << 10)  # a dozen blocks
    monkeypatch.setattr(shards_module, "STDIN_WHOLE_ROWS_BYTES", 64 << 10)  # passed after a few of them
    monkeypatch.setattr(shards_module, "FLUSH_ROWS", 1000)  # written out as they come, a thousand rows at a time
    taken: list[WholeUntilTooLarge] = []
    monkeypatch.setattr(analysis_module, "WholeUntilTooLarge", lambda *a: taken.append(WholeUntilTooLarge(*a)) or taken[-1])
    sharded = from_stdin()
    assert sharded.sharded is not None and len(sharded.sharded.written) > STDIN_SHARDS // 2  # the seed's clients, spread
    assert taken[0].frames == [] and taken[0].parsed is not None and taken[0].parsed.writer.parts > 3  # nothing held after
    report = build_report(whole)
    assert report["totals"]["stuck_clients"] == 2 and report["inputs"][0]["path"] == "-"
    assert same_report(report, build_report(sharded))


def test_gzip_and_several_inputs_in_shards(tmp_path: Path) -> None:
    """Inputs keep their order among equal times when each shard sorts its own requests."""
    packed = tmp_path / "seed.access.log.gz"
    with gzip.open(packed, "wb") as out:
        out.write((SAMPLES / "mcp-seed.access.log").read_bytes())
    logs = [SAMPLES / "mcp-seed.caddy.json", packed, SAMPLES / "mcp-after-fix.access.log"]
    assert same_report(build_report(analyze(logs)), build_report(analyze(logs, shards=4)))


def test_html_report_in_shards_is_the_same_page(tmp_path: Path) -> None:
    """The HTML report reads attempts and the stuck clients' requests back from the shards: same page."""
    from logscope.report.html_report import write_html

    pages = []
    for shards in (1, 4):
        analysis = analyze(SEED_LOGS, shards=shards)
        pages.append(Path(write_html(analysis, build_report(analysis), tmp_path / f"report-{shards}.html")).read_bytes())
    assert b"Attempts per hour" in pages[0] and b"MCP-Client/1.0" in pages[0]  # the chart and a stuck client's flow are there
    assert pages[0] == pages[1]


def test_no_request_at_all_in_shards(tmp_path: Path) -> None:
    """Every line rejected: no shard gets a client, and the report says so as reading whole does."""
    from logscope.ingest import Ingest, InputReport
    from logscope.runners.convert import write_store
    from logscope.schema import empty_frame

    store = write_store(Ingest(empty_frame(), [InputReport(path="x.log", format="nginx", lines=3, rejected=3)]), tmp_path / "store")
    whole = build_report(analyze(store))
    assert whole["totals"]["requests"] == 0
    assert same_report(whole, build_report(analyze(store, shards=3)))


def test_converted_store_in_shards(tmp_path: Path) -> None:
    """A store converted block by block (nginx and Caddy files, each with its own extra columns) is dealt
    to the shards in batches and put back in input order: the report of the logs themselves."""
    from logscope.runners.convert import convert_logs

    rows, _ = convert_logs([str(p) for p in SEED_LOGS], tmp_path / "store")
    whole = build_report(analyze(SEED_LOGS))
    assert rows == whole["totals"]["requests"]
    assert same_report(whole, build_report(analyze(tmp_path / "store", shards=4)))
