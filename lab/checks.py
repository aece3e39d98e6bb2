"""`logscope check` against the lab's real servers: after a case's clients have run, the check connects to the
URL they were given, and its findings are compared with what their records show (lab/verdicts.py,
`check_problems`). Its requests carry logscope-check's User-Agent, which `analyze` sets aside, so the logs the
verdicts read stay the clients' own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from logscope.check import CheckOptions, check, check_json

TOKEN_HEADER = "Authorization: Bearer lab-token"  # the token the lab's clients send where a case gives them one


def run_checks(out: Path, server: str, cases: list[tuple[str, str, bool]], ca: Path) -> None:
    """Check each case's URL (`cases`: name, URL, whether its clients are given the token) into
    out/check/SERVER/CASE.json."""
    folder = out / "check" / server
    folder.mkdir(parents=True, exist_ok=True)
    for name, url, token in cases:
        options = CheckOptions(timeout=10.0, tries=4, cacert=str(ca), headers=(TOKEN_HEADER,) if token else ())
        (folder / f"{name}.json").write_text(json.dumps(check_json(check([url], options)), indent=1, default=str))


def load_checks(run: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted((run / "check").glob("*/*.json")):
        found[(path.parent.name, path.stem)] = json.loads(path.read_text())
    return found
