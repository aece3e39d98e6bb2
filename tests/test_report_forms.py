"""The report's clients as a frame (`build_report(..., clients="frame")`, what `logscope analyze` writes
from) give the same JSON, the same HTML page and the same terminal summary as the clients as dicts (what
the library returns by default, and what notebooks and `compare` read)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from logscope import build_report, read_logs
from logscope.analysis import diagnose
from logscope.report.html_report import render_html
from logscope.report.json_report import ClientTable, clients_where, write_json
from logscope.report.terminal import print_summary

from .conftest import SAMPLES, validate_report


def _summary(report: dict) -> str:
    out = io.StringIO()
    print_summary(report, Console(file=out, width=120, highlight=False, color_system=None), 20)
    return out.getvalue()


@pytest.mark.parametrize("log", ["mcp-seed.access.log", "mcp-after-fix.access.log", "mcp-seed.caddy.json"])
def test_clients_as_a_frame_write_what_clients_as_dicts_write(log: str, tmp_path) -> None:
    analysis = diagnose(read_logs([SAMPLES / log]))
    rows, frame = build_report(analysis), build_report(analysis, clients="frame")
    assert isinstance(frame["clients"], ClientTable) and isinstance(rows["clients"], list)
    write_json(rows, tmp_path / "rows.json")
    write_json(frame, tmp_path / "frame.json")
    from_frame = json.loads((tmp_path / "frame.json").read_text())
    assert from_frame == json.loads((tmp_path / "rows.json").read_text())
    validate_report(from_frame)
    assert [list(c) for c in from_frame["clients"][:3]] == [list(c) for c in rows["clients"][:3]]  # the fields in order
    assert render_html(analysis, frame) == render_html(analysis, rows)
    assert _summary(frame) == _summary(rows)
    assert clients_where(frame, "stuck") == clients_where(rows, "stuck")
    assert clients_where(frame, "not-mcp", negate=True) == [c for c in rows["clients"] if c["outcome"] != "not-mcp"]


def test_the_seed_has_its_two_stuck_clients_in_either_form() -> None:
    analysis = diagnose(read_logs([SAMPLES / "mcp-seed.access.log"]))
    for form in ("rows", "frame"):
        assert len(clients_where(build_report(analysis, clients=form), "stuck")) == 2
