"""Shared fixtures. Real logs are read from ../shared/realdata beside the repository, never copied."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOGSCOPE_SHARED", ROOT.parent / "shared"))
REALDATA = SHARED / "realdata"
SAMPLES = ROOT / "sample_logs"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never read or write the user's cache (downloaded network ranges)."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LOGSCOPE_CACHE", str(cache))
    return cache


def pytest_configure(config: pytest.Config) -> None:
    # Many tests read ../shared; without it, say so once instead of failing each of them.
    if not REALDATA.is_dir():
        pytest.exit(f"the shared test data is expected at {SHARED} (beside the repository); set LOGSCOPE_SHARED to its path", returncode=2)


@pytest.fixture(scope="session")
def realdata() -> Path:
    return REALDATA


def physical_lines(path: Path) -> int:
    """Lines as an operator counts them: newlines, plus a last line without one."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def validate_report(report: dict) -> None:
    """Every report a test produces must match the JSON Schema shipped in the package."""
    import jsonschema

    from logscope.report.json_report import report_schema

    jsonschema.validate(report, report_schema(), format_checker=jsonschema.FormatChecker())


def same_report(whole: dict, other: dict) -> bool:
    """Two reports of the same logs say the same (the generator line aside); shows what differs if not."""
    differing = [k for k in whole if k != "generator" and whole[k] != other.get(k)]
    assert not differing, f"reports differ in {differing}"
    return True


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI the way an operator would (a real process, real files)."""
    # Run from a scratch directory, so the default HTML report never lands in the work tree.
    scratch = tempfile.mkdtemp(prefix="logscope-cli-")
    return subprocess.run(
        [sys.executable, "-m", "logscope", *args],
        cwd=scratch,
        input=stdin.decode("utf-8", "replace") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_on_a_terminal(*args: str, columns: int | None = None, with_stderr: bool = True) -> str:
    """Run the CLI with a pseudo-terminal as its stdout (and stderr); return what it showed."""
    import pty

    main, secondary = pty.openpty()
    env = {**os.environ, **({"COLUMNS": str(columns), "LINES": "50"} if columns else {})}
    stderr = secondary if with_stderr else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "logscope", *args], stdout=secondary, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace")
