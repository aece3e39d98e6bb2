"""Did the fix work? Two reports side by side: which clients changed outcome, which findings went or came.

`compare(before, after)` takes two report documents (logscope.report.build_report, or a `--json` file
read back) and returns the comparison document (data/compare.schema.json). Clients are matched by id (one
IP and User-Agent); a client absent on one side is `new` or `gone`. Findings are matched by code:
`resolved` (before only), `new` (after only), `persisting` (both).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..detectors import SEVERITIES
from ..version import __version__

if TYPE_CHECKING:
    from ..flows import FlowOptions
    from ..formats import FormatChoice

SCHEMA_VERSION = 1
#: How good an outcome is, for "better" and "worse".
RANK = {"stuck": 0, "failing": 1, "degraded": 2, "connected": 3}


def change(before: str | None, after: str | None) -> str:
    """`recovered` (was stuck or failing, now connects), `regressed` (worse), `improved`, `new`, `gone`, `unchanged`."""
    if before is None:
        return "new"
    if after is None:
        return "gone"
    if before == after:
        return "unchanged"
    if RANK.get(after, -1) > RANK.get(before, -1):
        return "recovered" if before in ("stuck", "failing") and after == "connected" else "improved"
    return "regressed"


def _side(report: dict[str, Any]) -> dict[str, Any]:
    return {"inputs": [i["path"] for i in report.get("inputs", [])], "window": report["window"], "totals": report["totals"]}


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    mcp = {s: {c["id"]: c for c in r["clients"] if c["outcome"] != "not-mcp"} for s, r in (("before", before), ("after", after))}
    clients = []
    for cid in sorted(set(mcp["before"]) | set(mcp["after"])):
        b, a = mcp["before"].get(cid), mcp["after"].get(cid)
        c = a or b
        assert c is not None
        outcome_b, outcome_a = b["outcome"] if b else None, a["outcome"] if a else None
        clients.append(
            {
                "id": cid,
                "ip": c["ip"],
                "user_agent": c["user_agent"],
                "agent": c.get("agent"),
                "before": outcome_b,
                "after": outcome_a,
                "change": change(outcome_b, outcome_a),
                "failure_modes_before": b["failure_modes"] if b else [],
                "failure_modes_after": a["failure_modes"] if a else [],
            }
        )
    order = {k: i for i, k in enumerate(("recovered", "regressed", "improved", "new", "gone", "unchanged"))}
    clients.sort(key=lambda c: (order[c["change"]], c["id"]))
    found = {s: {f["code"]: f for f in r["findings"]} for s, r in (("before", before), ("after", after))}
    details = []
    for code in sorted(set(found["before"]) | set(found["after"])):
        b, a = found["before"].get(code), found["after"].get(code)
        status = "persisting" if a and b else "new" if a else "resolved"
        f = a or b
        assert f is not None
        details.append(
            {
                "code": code,
                "status": status,
                "severity": f["severity"],
                "title": f["title"],
                "count_before": b["count"] if b else 0,
                "count_after": a["count"] if a else 0,
                "clients_before": len(b["clients"]) if b else 0,
                "clients_after": len(a["clients"]) if a else 0,
                "fix": f.get("fix", {}),
            }
        )
    details.sort(key=lambda d: (("resolved", "new", "persisting").index(d["status"]), SEVERITIES.index(d["severity"]), d["code"]))
    counts = {k: sum(c["change"] == k for c in clients) for k in order}
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"logscope {__version__}",
        "before": _side(before),
        "after": _side(after),
        "summary": counts,
        "clients": clients,
        "findings": {
            "resolved": [d["code"] for d in details if d["status"] == "resolved"],
            "new": [d["code"] for d in details if d["status"] == "new"],
            "persisting": [d["code"] for d in details if d["status"] == "persisting"],
            "details": details,
        },
    }


def failing_after(comparison: dict[str, Any], severity: str) -> bool:
    """For --fail-on: a finding at or above `severity` is new or persists, or a client got worse."""
    limit = SEVERITIES.index(severity)
    bad = [d for d in comparison["findings"]["details"] if d["status"] != "resolved" and SEVERITIES.index(d["severity"]) <= limit]
    return bool(bad) or comparison["summary"]["regressed"] > 0


def read_report(path: Path) -> dict[str, Any] | None:
    """A JSON report written by `logscope analyze --json`, or None when the file is not one (a log)."""
    try:
        with path.open("rb") as f:
            head = f.read(4096).lstrip()
        if not head.startswith(b"{") or b'"schema_version"' not in head:
            return None
        report = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return report if isinstance(report, dict) and "clients" in report and "findings" in report else None


@cache
def compare_inputs(before: str, after: str, choice: FormatChoice, options: FlowOptions) -> dict[str, Any]:
    """`logscope compare`: each side a JSON report (read back) or logs, a glob or a store (analysed here)."""
    from ..analysis import analyze
    from .json_report import build_report

    sides = []
    for spec in (before, after):
        report = read_report(Path(spec)) if Path(spec).is_file() else None
        sides.append(report if report is not None else build_report(analyze(spec, choice, options)))
    return compare(*sides)


def compare_schema() -> dict[str, Any]:
    return json.loads(resources.files("logscope.data").joinpath("compare.schema.json").read_text("utf-8"))


MAX_HTML_CLIENTS = 2_000


def write_compare_html(comparison: dict[str, Any], destination: str | Path) -> Path:
    """The comparison as one self-contained page (autoescaped: log text is never markup)."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(resources.files("logscope.data").joinpath("compare.html.j2").read_text("utf-8"))
    changed = [c for c in comparison["clients"] if c["change"] != "unchanged"]
    html = template.render(c=comparison, changed=changed, shown=changed[:MAX_HTML_CLIENTS])
    path = Path(destination)
    path.write_text(html, "utf-8")
    return path
