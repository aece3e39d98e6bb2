"""JSON-lines files read whole by DuckDB (ingest/json_files.py) give the block path's answer, line for line, or
hand the file back to it."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from logscope import FormatChoice, read_logs
from logscope.ingest import InputParser
from logscope.ingest.json_files import MAX_REFUSED, read_whole, readable_whole
from logscope.runners.sources import Source

from .conftest import SAMPLES

SEED = SAMPLES / "mcp-seed.caddy.json"
SMALL_BLOCKS = 64 << 10  # files larger than a block are read whole


def whole_or_none(path: Path) -> list | None:
    """What the whole-file reader makes of `path` (None: it handed the file back to the block path)."""
    src = Source(str(path), path)
    sample = [line for line in path.read_text(errors="replace").splitlines()[:200] if line.strip()]
    parser = InputParser.detect(str(path), FormatChoice(), sample)
    assert readable_whole(src, parser.fmt, parser.container is not None, min_bytes=SMALL_BLOCKS)
    return read_whole(src, parser.fmt, parser.settle)  # type: ignore[arg-type]


def assert_same_as_blocks(path: Path) -> None:
    """The default read (whole where it can) gives the frame and report of the block path (one block: the file)."""
    whole = read_logs(path, block_bytes=SMALL_BLOCKS)
    blocks = read_logs(path, block_bytes=path.stat().st_size + 1)
    assert_frame_equal(whole.requests, blocks.requests)
    assert [dataclasses.asdict(r) for r in whole.inputs] == [dataclasses.asdict(r) for r in blocks.inputs]


def seed_with(tmp_path: Path, extra: dict[int, str]) -> Path:
    """The seed's Caddy log with `extra` lines put before the given (0-based) line positions."""
    lines = SEED.read_text().splitlines(keepends=True)
    for at in sorted(extra, reverse=True):
        lines.insert(at, extra[at] + "\n")
    path = tmp_path / "caddy.json"
    path.write_text("".join(lines))
    return path


def test_a_caddy_log_read_whole_is_the_block_paths_answer(capfd: pytest.CaptureFixture[str]) -> None:
    assert whole_or_none(SEED) is not None
    assert_same_as_blocks(SEED)
    ingest = read_logs(SEED, block_bytes=SMALL_BLOCKS)
    assert ingest.inputs[0].lines == SEED.read_bytes().count(b"\n")
    assert ingest.requests["line"].is_sorted() or ingest.requests["ts"].is_sorted()
    assert capfd.readouterr().out == ""  # DuckDB's progress bar would write to standard output


def test_objects_that_are_no_request_are_read_back_with_their_text(tmp_path: Path) -> None:
    message = '{"level":"info","ts":1778889604.8,"logger":"http","msg":"server running","name":"srv0"}'
    other = '{"hello":"world","n":1}'
    path = seed_with(tmp_path, {0: message, 500: other, 3000: other, 5000: message})
    settled = whole_or_none(path)
    assert settled is not None
    assert sum(lines for lines, _, _ in settled) == path.read_bytes().count(b"\n")
    assert_same_as_blocks(path)
    report = read_logs(path, block_bytes=SMALL_BLOCKS).inputs[0]
    assert report.non_request == 2 and report.rejected == 2
    assert [(s.line, s.text) for s in report.rejected_samples] == [(502, other), (3003, other)]


@pytest.mark.parametrize(
    "line",
    [
        "",  # DuckDB skips blank lines: the counts differ, and the block path counts them
        " \t ",
        '{"request": {"method": "GET"',  # invalid JSON
        '127.0.0.1 - - [16/May/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl"',
        '{"ts": 1778889604.8, "status": "two hundred", "request": {"method": "GET", "uri": "/"}}',  # text for a number
        '{"status": 200}{"status": 201}',  # two objects on a line
        "[1, 2, 3]",
        '{"status": 200, "status": 201}',  # a key twice
    ],
)
def test_lines_duckdb_would_read_otherwise_hand_the_file_to_the_block_path(tmp_path: Path, line: str) -> None:
    path = seed_with(tmp_path, {700: line})
    assert whole_or_none(path) is None
    assert_same_as_blocks(path)
    assert read_logs(path, block_bytes=SMALL_BLOCKS).inputs[0].lines == path.read_bytes().count(b"\n")


def test_invalid_utf8_goes_to_the_block_path(tmp_path: Path) -> None:
    path = seed_with(tmp_path, {})
    data = path.read_bytes()
    cut = data.index(b'"uri":"') + 7
    path.write_bytes(data[:cut] + b"\xff\xfe" + data[cut:])
    assert whole_or_none(path) is None
    report = read_logs(path, block_bytes=SMALL_BLOCKS).inputs[0]
    assert report.invalid_utf8 and report.lines == data.count(b"\n")


def test_more_refused_objects_than_kept_go_to_the_block_path(tmp_path: Path) -> None:
    other = json.dumps({"hello": "world"})
    path = tmp_path / "caddy.json"
    path.write_text(SEED.read_text() + (other + "\n") * (MAX_REFUSED + 1))
    assert whole_or_none(path) is None
    report = read_logs(path, block_bytes=SMALL_BLOCKS).inputs[0]
    assert report.rejected == MAX_REFUSED + 1


def test_compressed_and_small_files_are_read_in_blocks(tmp_path: Path) -> None:
    parser = InputParser.detect("seed", FormatChoice(), SEED.read_text().splitlines()[:200])
    packed = tmp_path / "caddy.json"
    packed.write_bytes(gzip.compress(SEED.read_bytes()))
    assert not readable_whole(Source(str(packed), packed), parser.fmt, False, min_bytes=SMALL_BLOCKS)
    assert not readable_whole(Source(str(SEED), SEED), parser.fmt, False, min_bytes=SEED.stat().st_size + 1)
    assert not readable_whole(Source(str(SEED), SEED), parser.fmt, True, min_bytes=SMALL_BLOCKS)  # a container's wrapper
    assert readable_whole(Source(str(SEED), SEED), parser.fmt, False, min_bytes=SMALL_BLOCKS)


def test_a_fractional_status_is_refused_as_the_block_path_refuses_it(tmp_path: Path) -> None:
    line = json.loads(SEED.read_text().splitlines()[10])
    line["status"] = 200.5
    path = seed_with(tmp_path, {900: json.dumps(line)})
    assert whole_or_none(path) is not None  # DuckDB reads it (as a double) ...
    assert_same_as_blocks(path)  # ... and the line is refused, as Arrow's and the general path refuse it
    assert read_logs(path, block_bytes=SMALL_BLOCKS).inputs[0].rejected == 1


def test_a_number_written_as_a_string_reads_as_that_number(tmp_path: Path) -> None:
    """Cloudflare's status and bytes are decoded as numbers (`numbers` in json_formats.toml). A log that writes one
    as a string gives the same requests as the log that writes it as a number, read whole (DuckDB casts the
    string) or in blocks (Arrow's typed decoder refuses the block and the general decoder reads it); a string
    that is no number is refused alike on both paths."""
    from .test_flows import GEN

    lines = [GEN.cloudflare_line(r) for r in GEN.requests[:2000]]
    odd = json.loads(lines[700])
    assert isinstance(odd["EdgeResponseStatus"], int)

    def written(name: str, status: object) -> Path:
        path = tmp_path / name
        changed = json.dumps({**odd, "EdgeResponseStatus": status}, separators=(",", ":"))
        path.write_text("\n".join([*lines[:700], changed, *lines[701:]]) + "\n")
        return path

    plain, quoted, junk = (
        written("cf.json", odd["EdgeResponseStatus"]),
        written("q.json", str(odd["EdgeResponseStatus"])),
        written("j.json", "2OO"),
    )
    detected = InputParser.detect(str(plain), FormatChoice(), lines[:200]).fmt
    assert detected.numbers == {("EdgeResponseStatus",): "int64", ("EdgeResponseBytes",): "int64"}  # type: ignore[union-attr]
    assert whole_or_none(plain) is not None and whole_or_none(quoted) is not None
    for path in (plain, quoted, junk):
        assert_same_as_blocks(path)
    numbers, strings, refused = (read_logs(p, block_bytes=SMALL_BLOCKS) for p in (plain, quoted, junk))
    assert strings.inputs[0].rejected == 0 and strings.requests.height == 2000
    assert_frame_equal(numbers.requests.drop("source"), strings.requests.drop("source"))
    assert refused.inputs[0].rejected == 1 and refused.requests.height == 1999
