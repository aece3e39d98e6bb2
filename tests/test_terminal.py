"""The terminal summary on a real pseudo-terminal: it fits 80 columns, and --top bounds its lists."""

from __future__ import annotations

import re

from .conftest import SAMPLES, run_on_a_terminal

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(*args: str, columns: int = 80) -> list[str]:
    shown = run_on_a_terminal(*args, columns=columns, with_stderr=False)
    return ANSI.sub("", shown).replace("\r", "").split("\n")


def test_the_summary_fits_80_columns_with_whole_architecture_labels() -> None:
    lines = on_a_terminal("analyze", str(SAMPLES / "mcp-seed.access.log"), "--no-html")
    assert max(len(line.rstrip()) for line in lines) <= 80, [line for line in lines if len(line.rstrip()) > 80]
    # Each architecture on a line of its own, then its figures: no label broken across lines.
    assert " MCP-Client on an unnamed network, starts on HTTP, Streamable HTTP" in lines
    assert any(line.strip().startswith("957 failed since 2026-05-20 20:20Z") for line in lines)


def test_top_bounds_the_lists() -> None:
    lines = on_a_terminal("analyze", str(SAMPLES / "mcp-seed.access.log"), "--no-html", "--top", "3", columns=200)
    assert "  ... and 6 more architectures (see --json, or --top)" in lines
    architectures = lines.index(next(line for line in lines if line.startswith("Client architectures")))
    assert sum("Streamable HTTP" in line or "HTTP+SSE" in line for line in lines[architectures : architectures + 8]) == 3
