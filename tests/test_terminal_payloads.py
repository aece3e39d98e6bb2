"""Text from a log never acts on the terminal (issue 24, items 13 and 14): escape sequences (ESC, OSC 8 hyperlinks,
C1 controls), Unicode bidirectional controls and rich markup in a User-Agent reach `analyze`, `compare` and `watch`
as inert text, through one escaping path (logscope.report.terminal.plain and clean), on a pipe and on a pseudo-terminal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .conftest import run_cli, run_on_a_terminal

MARKUP = "[link=http://evil.example/]click-me[/link][bold red blink]blink[/]x[/]y"
PAYLOAD = "evil\x1b[31mRED\x1b]8;;http://evil.example/\x1b\\LINK\x9b5m" + MARKUP + " abc\u202egnp.exe\u2066\u200f"
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _line(t: datetime, method: str, status: int) -> str:
    return f'203.0.113.5 - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "{method} /mcp HTTP/1.1" {status} 0 "-" "{PAYLOAD}"\n'


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide console, so that a User-Agent is shown on one line (rich wraps at 80 columns on a pipe)."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Before: the client with the hostile User-Agent is stuck in the seed's loop; after: it connects."""
    d = tmp_path_factory.mktemp("payloads")
    start = datetime(2026, 5, 16, 12, 0, tzinfo=UTC)
    before = "".join(
        _line(start + timedelta(minutes=i), "POST", 301) + _line(start + timedelta(minutes=i, seconds=1), "GET", 400) for i in range(12)
    )
    after = "".join(
        _line(start + timedelta(days=1, minutes=i), "POST", 308) + _line(start + timedelta(days=1, minutes=i, seconds=1), "POST", 200)
        for i in range(12)
    )
    (d / "before.log").write_bytes(before.encode("utf-8", "surrogateescape"))
    (d / "after.log").write_bytes(after.encode("utf-8", "surrogateescape"))
    return d / "before.log", d / "after.log"


def _inert(out: str, on_a_terminal: bool) -> None:
    assert not set(BIDI) & set(out), "a bidirectional control reached the terminal"
    assert "\x9b" not in out, "a C1 control reached the terminal"
    assert "\x1b]8;" not in out, "a hyperlink (OSC 8) was made from log text"
    assert "\x1b[5m" not in out, "markup from the log was interpreted (blink)"
    if not on_a_terminal:
        assert "\x1b" not in out, "an escape sequence reached a pipe"
    assert "[link=http://evil.example/]" in out, "markup from the log is shown as the text it is"
    assert "\\[link" not in out, "log text was escaped twice"


@pytest.mark.parametrize("on_a_terminal", [False, True], ids=["pipe", "terminal"])
def test_analyze_shows_log_text_inert(logs: tuple[Path, Path], on_a_terminal: bool) -> None:
    before, _ = logs
    args = ("analyze", str(before), "--no-html")
    out = run_on_a_terminal(*args, columns=400) if on_a_terminal else run_cli(*args).stdout
    assert "Stuck clients (1)" in out
    _inert(out, on_a_terminal)


@pytest.mark.parametrize("on_a_terminal", [False, True], ids=["pipe", "terminal"])
def test_compare_shows_log_text_inert(logs: tuple[Path, Path], on_a_terminal: bool) -> None:
    args = ("compare", str(logs[0]), str(logs[1]))
    if on_a_terminal:
        out = run_on_a_terminal(*args, columns=400)
    else:
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
        out = done.stdout
    assert "Clients that now connect (1)" in out and "MarkupError" not in out
    _inert(out, on_a_terminal)


@pytest.mark.parametrize("on_a_terminal", [False, True], ids=["pipe", "terminal"])
def test_watch_shows_log_text_inert(logs: tuple[Path, Path], on_a_terminal: bool) -> None:
    args = ("watch", str(logs[0]), "--from-start", "--once")
    out = run_on_a_terminal(*args, columns=400) if on_a_terminal else run_cli(*args).stdout
    assert "STUCK" in out
    _inert(out, on_a_terminal)
