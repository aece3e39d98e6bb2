"""The short terminal summary. Text from logs is stripped of control characters before it is shown."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.table import Table

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object) -> str:
    """Log-derived text made safe for a terminal: no escape sequences, no control characters."""
    return _CONTROL.sub("\ufffd", str(text))


def print_summary(report: dict[str, Any], console: Console) -> None:
    table = Table(title="Inputs", title_justify="left", show_edge=False)
    for col, justify in (("input", "left"), ("format", "left"), ("lines", "right"), ("parsed", "right"), ("rejected", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for item in report["inputs"]:
        name = item.get("log_format_name")
        fmt = f"{item['format']} ({name})" if name else item["format"]
        table.add_row(clean(item["path"]), clean(fmt), f"{item['lines']:,}", f"{item['parsed']:,}", f"{item['rejected']:,}")
    console.print(table)
    window = report["window"]
    totals = report["totals"]
    console.print(f"requests: {totals['requests']:,}   clients: {totals['clients']:,}")
    if window["start"]:
        console.print(f"window:   {window['start']} -> {window['end']}")
    for item in report["inputs"]:
        for note in item["notes"]:
            console.print(f"[yellow]note[/]: {clean(item['path'])}: {clean(note)}")
        if item["rejected"]:
            reasons = ", ".join(f"{clean(r)} ({n:,})" for r, n in item["rejected_reasons"].items())
            console.print(f"[yellow]rejected[/] in {clean(item['path'])}: {reasons}")
            for sample in item["rejected_samples"][:3]:
                console.print(f"  line {sample['line']}: {clean(sample['text'][:160])}", markup=False, highlight=False)
