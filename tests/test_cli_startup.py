"""`logscope --help` and `--version` answer without loading the engine (issue 18: under 0.3 s; the time
itself is measured by benchmarks/startup.py, not here). What is checked here can fail: which modules a
command imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from logscope.cli import app
try:
    app({args!r}, prog_name="logscope")
except SystemExit:
    pass
heavy = sorted(m for m in ("polars", "pyarrow", "plotly", "ua_parser", "jinja2") if m in sys.modules)
print("HEAVY", ",".join(heavy))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["analyze", "--help"], ["watch", "--help"]])
def test_help_and_version_do_not_import_the_engine(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, check=True).stdout
    assert "HEAVY \n" in out, out  # nothing heavy loaded
    assert ("logscope 0.1" in out) if args == ["--version"] else ("Usage: logscope" in out)


def test_the_package_loads_its_public_names_on_first_use() -> None:
    code = "import sys, logscope; a = 'polars' in sys.modules; logscope.read_logs; print(a, 'polars' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
