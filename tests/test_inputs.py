"""Inputs as an operator gives them: several files, globs, gzip, stdin, and every kind of bad input."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import polars as pl
import pytest

from logscope import FormatChoice, InputError, read_logs

from .conftest import SAMPLES, run_cli, validate_report

LINE = '{ip} - - [{t} +0000] "POST /mcp HTTP/1.1" {status} 12 "-" "agent/{n}"\n'


def write(path: Path, rows: list[tuple[str, str, int]], *, compress: bool = False) -> Path:
    text = "".join(LINE.format(ip=ip, t=t, status=s, n=i) for i, (ip, t, s) in enumerate(rows)).encode()
    path.write_bytes(gzip.compress(text) if compress else text)
    return path


def test_files_globs_and_gzip_merge_in_time_order_with_ties_in_input_order(tmp_path: Path) -> None:
    # Rotations named as logrotate does; .2.gz is the oldest, and a tie straddles two files.
    write(tmp_path / "access.log.2.gz", [("1.1.1.1", "20/May/2026:10:00:00", 200), ("1.1.1.1", "20/May/2026:10:00:05", 200)], compress=True)
    write(tmp_path / "access.log.1", [("2.2.2.2", "20/May/2026:10:00:05", 301), ("2.2.2.2", "20/May/2026:10:00:05", 400)])
    write(tmp_path / "access.log", [("3.3.3.3", "20/May/2026:09:59:00", 200)])
    ingest = read_logs([str(tmp_path / "access.log"), str(tmp_path / "access.log.*")])
    frame = ingest.requests
    assert [r.path for r in ingest.inputs] == [str(tmp_path / n) for n in ("access.log", "access.log.1", "access.log.2.gz")]
    assert frame["client_ip"].to_list() == ["3.3.3.3", "1.1.1.1", "2.2.2.2", "2.2.2.2", "1.1.1.1"]
    # Equal times keep input order: access.log.1 was named before access.log.2.gz, and line 1 before 2.
    assert frame.select("source", "line").rows()[2:] == [
        (str(tmp_path / "access.log.1"), 1),
        (str(tmp_path / "access.log.1"), 2),
        (str(tmp_path / "access.log.2.gz"), 2),
    ]
    assert frame["ts"].is_sorted()


def test_natural_order_of_rotations(tmp_path: Path) -> None:
    for n in (1, 2, 10):
        write(tmp_path / f"a.log.{n}", [("1.1.1.1", "20/May/2026:10:00:00", 200)])
    ingest = read_logs([str(tmp_path / "a.log.*")])
    assert [Path(r.path).name for r in ingest.inputs] == ["a.log.1", "a.log.2", "a.log.10"]


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    path = write(tmp_path / "access.log", [("1.1.1.1", "20/May/2026:10:00:00", 200)], compress=True)
    assert read_logs([path]).requests.height == 1


def test_small_blocks_give_the_same_frame(tmp_path: Path) -> None:
    rows = [(f"10.0.0.{i % 7}", f"20/May/2026:10:{i // 60:02d}:{i % 60:02d}", 200 + i % 3) for i in range(500)]
    path = write(tmp_path / "access.log", rows)
    whole = read_logs([path]).requests
    blocked = read_logs([path], block_bytes=1000).requests
    assert blocked.equals(whole)
    assert blocked["line"].to_list() == list(range(1, 501))


def test_every_line_is_counted_crlf_blank_invalid_utf8_no_final_newline(tmp_path: Path) -> None:
    good = LINE.format(ip="1.1.1.1", t="20/May/2026:10:00:00", status=200, n=0).rstrip("\n")
    data = (
        (good + "\r\n").encode()
        + b"\r\n"
        + b"garbage \xff\xfe here\n"
        + good.replace("agent/0", "caf\xc3\xa9").encode("latin-1")
        + b"\n"
        + good.encode()
    )
    path = tmp_path / "mixed.log"
    path.write_bytes(data)
    ingest = read_logs([path])
    report = ingest.inputs[0]
    assert (report.lines, report.parsed, report.rejected) == (5, 3, 2)
    assert report.rejected_reasons == {"blank line": 1, "matches no known layout": 1}
    assert report.invalid_utf8 is True
    assert [s.line for s in report.rejected_samples] == [2, 3]
    assert "\ufffd" in report.rejected_samples[1].text  # replaced, shown, not dropped
    assert ingest.requests["user_agent"].to_list() == ["agent/0", "café", "agent/0"]


def test_empty_input_among_others_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    path = write(tmp_path / "access.log", [("1.1.1.1", "20/May/2026:10:00:00", 200)])
    ingest = read_logs([tmp_path / "empty.log", path])
    assert ingest.inputs[0].lines == 0 and ingest.inputs[0].notes == ["empty input: no log lines"]
    assert ingest.requests.height == 1


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing.log", "missing.log: no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: ((d / "e.log").write_bytes(b"") and d / "e.log") or d / "e.log", "empty input, nothing to analyse"),
        (lambda d: ((d / "w.log").write_bytes(b"\n\n  \n") and d / "w.log") or d / "w.log", "empty input, nothing to analyse"),
        (
            lambda d: (
                (
                    (d / "t.gz").write_bytes(
                        gzip.compress(LINE.format(ip="1.1.1.1", t="20/May/2026:10:00:00", status=200, n=1).encode() * 50000)[:3000]
                    )
                    and d / "t.gz"
                )
                or d / "t.gz"
            ),
            "gzip data is truncated",
        ),
        (lambda d: ((d / "c.gz").write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate" * 3) and d / "c.gz") or d / "c.gz", "gzip"),
        (
            lambda d: ((d / "bin.log").write_bytes(os.urandom(4000).replace(b"{", b"(")) and d / "bin.log") or d / "bin.log",
            "no known access-log format",
        ),
        (
            lambda d: ((d / "words.log").write_text("hello world\nthis is not a log\n") and d / "words.log") or d / "words.log",
            "no known access-log format",
        ),
    ],
    ids=["missing", "directory", "empty", "whitespace-only", "truncated-gzip", "corrupt-gzip", "binary", "prose"],
)
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(tmp_path: Path, setup, message: str) -> None:
    target = setup(tmp_path)
    with pytest.raises(InputError, match=message):
        read_logs([target])
    result = run_cli("analyze", str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("logscope: error: ") and message in lines[0]


def test_a_device_is_refused_and_a_named_pipe_is_read(tmp_path: Path) -> None:
    result = run_cli("analyze", "/dev/zero")  # would be read forever
    assert result.returncode == 2 and "is a device" in result.stderr and "Traceback" not in result.stderr
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    import threading

    line = LINE.format(ip="1.1.1.1", t="20/May/2026:10:00:00", status=200, n=0)
    writer = threading.Thread(target=lambda: fifo.write_text(line * 3))
    writer.start()
    ingest = read_logs([fifo])
    writer.join(timeout=10)
    assert ingest.requests.height == 3


def test_truncated_gzip_names_the_line_reached(tmp_path: Path) -> None:
    body = "".join(LINE.format(ip="1.1.1.1", t="20/May/2026:10:00:00", status=200, n=i) for i in range(200000)).encode()
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(body)[:200000])
    with pytest.raises(InputError, match=r"access.log.gz: gzip data is truncated after line \d+"):
        read_logs([path], block_bytes=1 << 20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "unknown --format 'xml'"),
        (["--log-format", "nothing here"], "unknown log format"),
        (["--log-format", "$remote_addr$status"], "touch with no text between them"),
        (["--nginx-conf", "/nonexistent/nginx.conf"], "no such nginx config file"),
        (["--field", "client_ip"], "--field takes canonical=source"),
        # Issue 24, item 15: values that ended in a traceback or were taken.
        (["--attempt-gap", "nan"], "--attempt-gap takes a number of seconds above 0, not nan"),
        (["--attempt-gap", "inf"], "--attempt-gap takes a number of seconds above 0, not inf"),
        (["--stuck-after", "0"], "--stuck-after takes"),
        (["--top", "-5"], "--top takes a number of entries, 1 or more, not -5"),
        (["--scheduler", "foo"], "--scheduler takes a Dask scheduler's address"),
        (["--scheduler", "local:999"], "--scheduler local:N starts N worker processes here"),
    ],
)
def test_bad_options_are_one_clear_line(args: list[str], message: str) -> None:
    result = run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"logscope: error: {result.stderr.strip().split('error: ', 1)[1]}"]
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--attempt-gap", "-1"], "--attempt-gap takes"), (["--attempt-gap", "nan"], "--attempt-gap takes"), (["--top", "0"], "--top takes")],
)
def test_bad_compare_options_are_one_clear_line(args: list[str], message: str) -> None:
    result = run_cli("compare", str(SAMPLES / "mcp-seed.access.log"), str(SAMPLES / "mcp-after-fix.access.log"), *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_stdin_plain_and_gzip() -> None:
    data = (SAMPLES / "mcp-seed.access.log").read_bytes()
    plain = run_cli("analyze", "-", "--json", "-", stdin=data)
    assert plain.returncode == 0, plain.stderr
    report = json.loads(plain.stdout)
    validate_report(report)
    assert report["inputs"][0]["path"] == "-"
    assert report["inputs"][0]["lines"] == data.count(b"\n")
    assert "requests:" in plain.stderr  # the human summary moves to stderr when JSON takes stdout


def test_stdin_gzip(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = gzip.compress((SAMPLES / "mcp-seed.access.log").read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "logscope", "analyze", "-", "--json", "-", "-q"], input=data, capture_output=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["requests"] == (SAMPLES / "mcp-seed.access.log").read_bytes().count(b"\n")


def test_nginx_conf_multiline_include_and_selection(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "log.conf").write_text(
        "# formats\nlog_format  timed  '$remote_addr - $remote_user [$time_local] \"$request\" '\n"
        "                    '$status $body_bytes_sent \"$http_referer\" '   # trailing comment\n"
        "                    '\"$http_user_agent\" $request_time $scheme';\n"
        'log_format json_fmt escape=json \'{"a":"$remote_addr"}\';\n'
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n  include conf.d/*.conf;\n  server { access_log /var/log/nginx/access.log timed; }\n}\n")
    log = tmp_path / "access.log"
    log.write_text('9.9.9.9 - - [20/May/2026:20:20:00 +0000] "POST /mcp HTTP/1.1" 301 162 "-" "MCP-Client/1.0" 0.001 http\n')
    result = run_cli("analyze", str(log), "--nginx-conf", str(conf), "--json", "-", "-q")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    validate_report(report)
    item = report["inputs"][0]
    assert item["parsed"] == 1 and item["log_format"].endswith("$request_time $scheme")
    frame = read_logs([log], __import__("logscope").FormatChoice(nginx_conf=conf, log_format_name="timed")).requests
    assert frame.select("scheme", "duration_s", "status").row(0) == ("http", 0.001, 301)
    conf.write_text("http { include conf.d/*.conf; }\n")  # two formats, none used: the operator must choose
    ambiguous = run_cli("analyze", str(log), "--nginx-conf", str(conf))
    assert ambiguous.returncode == 2 and "choose one with --log-format-name" in ambiguous.stderr


def test_timezone_option_for_times_without_offset(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"time":"2026-05-20 22:20:00","remote_addr":"1.1.1.1","request":"GET / HTTP/1.1","status":200}\n')
    utc = read_logs([path]).requests["ts"][0]
    berlin = read_logs([path], naive_tz="Europe/Berlin").requests["ts"][0]
    assert str(utc) == "2026-05-20 22:20:00+00:00" and str(berlin) == "2026-05-20 20:20:00+00:00"


def test_impossible_values_are_rejected_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        '{"time":"2026-02-30T00:00:00Z","remote_addr":"1.1.1.1","request":"GET / HTTP/1.1","status":200}\n'
        '{"time":"2026-05-20T00:00:00Z","remote_addr":"1.1.1.1","request":"GET / HTTP/1.1","status":"abc"}\n'
        '{"time":"2026-05-20T00:00:00Z","remote_addr":"1.1.1.1","request":{"deep":[1]},"status":200}\n'
        "[1, 2]\n"
        '{"time":"2026-05-20T00:00:00Z","remote_addr":"1.1.1.1","request":"GET / HTTP/1.1","status":200}\n'
    )
    report = read_logs([path]).inputs[0]
    assert (report.lines, report.parsed) == (5, 2)  # the nested "request" is kept as text, its method unknown
    assert report.rejected_reasons == {
        "timestamp unparseable or outside 1990-2099": 1,
        "status is not a number from 0 to 999": 1,
        "not a JSON object": 1,
    }


def test_json_lines_of_wrong_shape_are_isolated(tmp_path: Path) -> None:
    good = {
        "level": "info",
        "ts": 1779308400.5,
        "logger": "http.log.access",
        "msg": "handled request",
        "request": {"remote_ip": "1.1.1.1", "method": "POST", "uri": "/mcp", "host": "h", "proto": "HTTP/1.1", "headers": {}},
        "status": 200,
        "size": 1,
    }
    bad = json.loads(json.dumps(good))
    bad["request"]["headers"] = {"User-Agent": "not-a-list"}
    lines = [json.dumps(good)] * 50 + [json.dumps(bad), "{broken json"] + [json.dumps(good)] * 50
    path = tmp_path / "caddy.json"
    path.write_text("\n".join(lines) + "\n")
    report = read_logs([path]).inputs[0]
    assert (report.lines, report.parsed, report.rejected) == (102, 100, 2)
    assert [s.line for s in report.rejected_samples] == [51, 52]
    assert pl.Series([s.reason for s in report.rejected_samples]).n_unique() == 1


def test_rotations_named_newest_first_come_out_in_time_order(tmp_path: Path) -> None:
    # logrotate names: access.log (newest), access.log.1, access.log.2.gz (oldest); no overlap.
    write(tmp_path / "access.log", [("3.3.3.3", "22/May/2026:10:00:00", 200), ("3.3.3.3", "22/May/2026:10:00:01", 200)])
    write(tmp_path / "access.log.1", [("2.2.2.2", "21/May/2026:10:00:00", 200), ("2.2.2.2", "21/May/2026:10:00:01", 200)])
    write(tmp_path / "access.log.2.gz", [("1.1.1.1", "20/May/2026:10:00:00", 200)], compress=True)
    frame = read_logs([str(tmp_path / "access.log*")]).requests
    assert frame["client_ip"].to_list() == ["1.1.1.1", "2.2.2.2", "2.2.2.2", "3.3.3.3", "3.3.3.3"]
    assert frame["line"].to_list() == [1, 1, 2, 1, 2]


def test_unordered_lines_within_a_file_are_sorted_stably(tmp_path: Path) -> None:
    # Apache logs the request's start time, so long requests appear out of order.
    path = write(
        tmp_path / "a.log",
        [("1.1.1.1", "20/May/2026:10:00:05", 200), ("2.2.2.2", "20/May/2026:10:00:00", 200), ("3.3.3.3", "20/May/2026:10:00:05", 200)],
    )
    frame = read_logs([path]).requests
    assert frame["client_ip"].to_list() == ["2.2.2.2", "1.1.1.1", "3.3.3.3"]


def _many(path: Path, n: int, start: int = 0) -> list[str]:
    lines = [
        LINE.format(ip="1.1.1.1", t=f"20/May/2026:10:{(start + i) // 60 % 60:02d}:{(start + i) % 60:02d}", status=200, n=start + i)
        for i in range(n)
    ]
    with path.open("a", encoding="utf-8") as out:
        out.writelines(lines)
    return lines


def test_a_file_growing_while_read_is_read_to_its_new_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _many(log, 2000)
    grown: list[int] = []

    def append_once(_name: str, _lines: int) -> None:
        if not grown:
            grown.append(len(_many(log, 500, start=2000)))  # nginx keeps writing meanwhile

    ingest = read_logs(log, block_bytes=8192, progress=append_once)
    assert grown and ingest.inputs[0].lines == ingest.inputs[0].parsed == 2500
    assert not ingest.inputs[0].notes


def test_a_file_rotated_by_rename_while_read_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _many(log, 2000)

    def rotate_once(_name: str, _lines: int) -> None:
        if log.exists() and not (tmp_path / "access.log.1").exists():
            log.rename(tmp_path / "access.log.1")  # logrotate's default: rename, then a new file
            _many(log, 10)

    ingest = read_logs(log, block_bytes=8192, progress=rotate_once)
    assert ingest.inputs[0].lines == ingest.inputs[0].parsed == 2000  # the open file is the renamed one


def test_a_file_truncated_while_read_stops_there_with_a_note(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _many(log, 5000)

    def truncate_once(_name: str, _lines: int) -> None:
        if log.stat().st_size > 0:
            os.truncate(log, 0)  # copytruncate

    ingest = read_logs(log, block_bytes=8192, progress=truncate_once)
    report = ingest.inputs[0]
    assert 0 < report.lines < 5000 and report.parsed + report.rejected + report.non_request == report.lines
    assert any("shrank while it was read" in note for note in report.notes)
    result = run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--json", "-", "-q", "--no-html")
    assert result.returncode == 0 and not json.loads(result.stdout)["inputs"][0]["notes"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the CLI as another user")
def test_unreadable_file_is_one_line_for_an_unprivileged_user(tmp_path: Path) -> None:
    """Root reads everything, so the CLI is run as `nobody`, as an operator without rights would run it."""
    import shutil
    import subprocess
    import sys

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    secret = tmp_path / "access.log"
    secret.write_text(LINE.format(ip="1.1.1.1", t="20/May/2026:10:00:00", status=200, n=1))
    secret.chmod(0o600)
    tmp_path.chmod(0o755)
    nobody = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        sys.executable,
        "-m",
        "logscope",
        "analyze",
        str(secret),
        "--no-html",
        "-q",
    ]
    result = subprocess.run(nobody, capture_output=True, text=True, cwd="/tmp", timeout=120, env={**os.environ, "HOME": "/tmp"})
    if "No module named" in result.stderr or "Permission denied: '" in result.stderr:
        pytest.skip(f"the package is not readable by nobody here: {result.stderr.strip()[-200:]}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"logscope: error: {secret}: permission denied"


_PIECES = [
    b"1.2.3.4 - - x",
    b'{"a":1}',
    "é€😀".encode(),
    b"\xe2\x82",
    b"\xff",
    b"\r",
    b"\r\n",
    b"\n",
    b"\n\n",
    b"\x1f\x8b",
    b"x^",
    b"(\xb5/\xfd",
    b" ",
]


@pytest.mark.parametrize("seed", range(40))
def test_blocks_split_a_file_into_the_same_lines_at_any_size(tmp_path: Path, seed: int) -> None:
    """However the file is cut into blocks (lines cut mid-way, inside a multi-byte character, blocks that
    start with compression magic, CRLF split between blocks), the lines, their numbers and whether
    invalid UTF-8 was replaced are those of reading it whole."""
    import random

    from logscope.runners.sources import Source, iter_blocks

    rng = random.Random(seed)
    # (A file that itself starts with gzip's magic is read as gzip, by design: it starts with a line.)
    content = b"start\n" + b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 400)))
    log = tmp_path / "cut.log"
    log.write_bytes(content)
    src = Source(str(log), log)

    def read(block_bytes: int) -> tuple[list[str], list[int], bool]:
        blocks = list(iter_blocks(src, block_bytes))
        frame = pl.concat([b.frame for b in blocks]) if blocks else pl.DataFrame({"raw": [], "line": []})
        return frame["raw"].to_list(), frame["line"].to_list(), any(b.lossy for b in blocks)

    whole = read(1 << 20)
    for block_bytes in (1, 2, 3, 7, rng.randint(4, 200)):
        lines, numbers, lossy = read(block_bytes)
        assert numbers == list(range(1, len(numbers) + 1))
        if not whole[2]:  # valid UTF-8: exactly the same lines
            assert (lines, lossy) == (whole[0], False), block_bytes
        else:  # replaced characters may fall differently at a cut, but every line is there
            assert lossy and len(lines) == len(whole[0]), block_bytes


def test_bzip2_and_xz_are_read_and_zstd_is_named(tmp_path: Path) -> None:
    """Issue 24, item 12: inputs compressed otherwise than with gzip."""
    import bz2
    import lzma

    data = (SAMPLES / "mcp-seed.access.log").read_bytes()
    (tmp_path / "a.log.bz2").write_bytes(bz2.compress(data))
    (tmp_path / "a.log.xz").write_bytes(lzma.compress(data))
    for name in ("a.log.bz2", "a.log.xz"):
        report = read_logs([tmp_path / name]).inputs[0]
        assert report.lines == report.parsed == 6557, name
    (tmp_path / "cut.bz2").write_bytes(bz2.compress(data)[:20000])
    with pytest.raises(InputError, match=r"cut.bz2: bzip2 data is truncated"):
        read_logs([tmp_path / "cut.bz2"])
    (tmp_path / "a.log.zst").write_bytes(b"\x28\xb5\x2f\xfd" + os.urandom(64))
    done = run_cli("analyze", str(tmp_path / "a.log.zst"))
    assert done.returncode == 2 and done.stderr.strip().endswith(
        "compressed as zstd, which logscope does not read: zstdcat " + str(tmp_path / "a.log.zst") + " | logscope analyze -"
    )


def test_a_year_out_of_range_is_named_as_the_timestamp(tmp_path: Path) -> None:
    """Issue 24, item 12: lines of a known layout with a time in 1970 or 9999 are rejected for their timestamp."""
    lines = (SAMPLES / "mcp-seed.access.log").read_text().splitlines(keepends=True)[:50]
    path = tmp_path / "old.log"
    path.write_text(
        "".join(lines[:40])
        + "".join(line.replace("/2026:", "/1970:") for line in lines[40:45])
        + "".join(line.replace("/2026:", "/9999:") for line in lines[45:])
    )
    report = read_logs([path]).inputs[0]
    assert report.rejected_reasons == {"timestamp unparseable or outside 1990-2099": 10}


def test_an_nginx_conf_without_log_format_says_it_reads_combined(tmp_path: Path) -> None:
    """Issue 24, item 12: nginx writes `combined` when the config defines no log_format; the report says so."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("http { server { listen 80; access_log /var/log/nginx/access.log; } }\n")
    report = read_logs([SAMPLES / "mcp-seed.access.log"], FormatChoice(nginx_conf=conf)).inputs[0]
    assert report.format_detail["log_format_name"] == "combined (nginx's default: the config defines no log_format)"
    assert report.parsed == 6557
