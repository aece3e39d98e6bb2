"""No line lost when a followed log is rotated (issue 24, items 1 to 3), with a real writer, real files and real
signals: a file renamed while its writer still writes it (nginx until its USR1), logrotate's rename, re-create and
`postrotate kill -HUP`, and compressed rotations matched by a followed glob."""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import SAMPLES
from .test_watch import _free_port

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

LINES = (SAMPLES / "mcp-seed.access.log").read_text().splitlines(keepends=True)


def _start(*args: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "logscope",
            "watch",
            *args,
            "--jsonl",
            "--batch",
            "0.2",
            "--forget-after",
            "30d",
            "--metrics",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def _parsed(port: int) -> int:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return -1
    found = re.search(r'logscope_lines_total\{result="parsed"\} ([0-9.e+]+)', text)
    return int(float(found.group(1))) if found else 0


def _ready(port: int) -> None:
    """The metrics endpoint answers, and the follower has had time to open its files at their end."""
    assert _wait_for(port, 0) == 0
    time.sleep(1.5)


def _wait_for(port: int, expected: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    got = _parsed(port)
    while got != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        got = _parsed(port)
    return got


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in err, err
    return err


def test_a_file_renamed_while_its_writer_still_writes_it_is_read_on(tmp_path: Path) -> None:
    """nginx keeps writing the file it has open until USR1: the lines written to the renamed file count."""
    log = tmp_path / "a.log"
    log.write_text("")
    process, port = _start(str(log))
    try:
        _ready(port)
        with log.open("a") as writer:  # the writer's descriptor, opened before the rotation
            os.rename(log, tmp_path / "a.log.1")
            log.write_text("")
            time.sleep(1)  # the watch sees the rotation and follows the new file
            writer.writelines(LINES[:1000])
        with log.open("a") as out:
            out.writelines(LINES[1000:2000])
        assert _wait_for(port, 2000) == 2000
    finally:
        err = _stop(process) if process.poll() is None else ""
    assert "rotated" in err


def test_sighup_right_after_rename_and_re_create_loses_nothing(tmp_path: Path) -> None:
    """logrotate's `create` and `postrotate kill -HUP`: the old file's unread end is read before the new file."""
    log = tmp_path / "a.log"
    log.write_text("")
    process, port = _start(str(log))
    try:
        _ready(port)
        with log.open("a") as writer:
            writer.writelines(LINES[:1000])
        os.rename(log, tmp_path / "a.log.1")
        log.write_text("")
        process.send_signal(signal.SIGHUP)
        with log.open("a") as out:
            out.writelines(LINES[1000:2000])
        assert _wait_for(port, 2000) == 2000
    finally:
        if process.poll() is None:
            _stop(process)


def test_compressed_rotations_matched_by_a_followed_glob(tmp_path: Path) -> None:
    """`'access.log*'` beside `access.log.2.gz`: from the start the .gz is read whole once; followed from the end it
    is not followed (no line comes to it); a .gz named alone is read with --from-start --once. No traceback."""
    (tmp_path / "access.log").write_text("".join(LINES[3000:4000]))
    (tmp_path / "access.log.1").write_text("".join(LINES[2000:3000]))
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress("".join(LINES[:2000]).encode()))
    glob = str(tmp_path / "access.log*")
    done = subprocess.run(
        [sys.executable, "-m", "logscope", "watch", glob, "--from-start", "--once", "--jsonl", "--forget-after", "30d"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "access.log.2.gz: compressed (gzip); read whole once" in done.stderr
    alone = subprocess.run(
        [sys.executable, "-m", "logscope", "watch", str(tmp_path / "access.log.2.gz"), "--from-start", "--once", "--jsonl"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode == 0 and "Traceback" not in alone.stderr, alone.stderr
    process, port = _start(glob)
    try:
        _ready(port)
        with (tmp_path / "access.log").open("a") as out:
            out.writelines(LINES[4000:4500])
        assert _wait_for(port, 500) == 500
    finally:
        err = _stop(process)
    assert "access.log.2.gz: compressed (gzip); not followed" in err


def _pending_stuck_log(path: Path) -> None:
    """One client in the seed's loop, its tenth failed attempt the log's last lines: the attempt is still open
    while the watch follows, so the client is told stuck only by the final flush."""
    start = time.mktime((2026, 5, 16, 12, 0, 0, 0, 0, 0))
    rows = []
    for i in range(10):
        for k, (method, status) in enumerate((("POST", 301), ("GET", 400))):
            t = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(start + 60 * i + k))
            rows.append(f'203.0.113.7 - - [{t}] "{method} /mcp HTTP/1.1" {status} 0 "-" "MCP-Client/1.0"\n')
    path.write_text("".join(rows))


def test_ctrl_c_flushes_like_sigterm_and_exits_130(tmp_path: Path) -> None:
    """Issue 24, item 4: SIGINT sends the pending client-stuck (the final flush), then exits 130, with no traceback."""
    log = tmp_path / "access.log"
    _pending_stuck_log(log)
    for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
        process = subprocess.Popen(
            [sys.executable, "-m", "logscope", "watch", str(log), "--from-start", "--jsonl", "--batch", "0.2", "--forget-after", "30d"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
        assert process.returncode == code and "Traceback" not in err, (sig, err)
        assert sum('"client-stuck"' in line for line in out.splitlines()) == 1, (sig, out)


def test_a_piped_follower_stopped_by_sigterm_exits_0(tmp_path: Path) -> None:
    """Issue 24, item 5: `tail -F file | logscope watch -`, then SIGTERM: exit 0, not Python's fatal error on stdin
    (SIGABRT, 134), so that a unit with Restart=on-failure does not restart in a loop."""
    log = tmp_path / "access.log"
    log.write_text("".join(LINES[:200]))
    tail = subprocess.Popen(["tail", "-n", "+1", "-F", str(log)], stdout=subprocess.PIPE)
    try:
        watch = subprocess.Popen(
            [sys.executable, "-m", "logscope", "watch", "-", "--jsonl", "--batch", "0.2"],
            stdin=tail.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=60)
        assert watch.returncode == 0 and "Fatal Python error" not in err and "Traceback" not in err, err
    finally:
        tail.terminate()  # by its process id
        tail.wait(timeout=10)


def test_a_fifo_a_link_loop_and_a_device_are_named(tmp_path: Path) -> None:
    """Issue 24, item 12: what cannot be followed is one line naming it (a FIFO blocked the open before)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "l1").symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(tmp_path / "l1")
    cases = (
        (fifo, "a FIFO (named pipe), not a file to follow"),
        (tmp_path / "l1", "a symbolic link that leads round in a loop"),
        (Path("/dev/null"), "not a regular file"),
    )
    for target, message in cases:
        done = subprocess.run(
            [sys.executable, "-m", "logscope", "watch", str(target), "--once"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
