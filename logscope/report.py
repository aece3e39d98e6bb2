"""The JSON report (../shared/spec/analysis-model.md, "JSON report"), built from an analysis."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from . import __version__
from .ingest import Ingest

SCHEMA_VERSION = 1


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as the report writes every time."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "") + "Z"


def count_clients(requests: pl.DataFrame) -> int:
    """Distinct (client IP, User-Agent) pairs; a missing User-Agent is a value of its own."""
    if requests.height == 0:
        return 0
    return int(requests.select(pl.struct("client_ip", "user_agent").n_unique()).item())


def build_report(ingest: Ingest) -> dict[str, Any]:
    requests = ingest.requests
    window = requests.select(pl.col("ts").min().alias("start"), pl.col("ts").max().alias("end")).row(0, named=True)
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"logscope {__version__}",
        "inputs": [r.to_json() for r in ingest.inputs],
        "window": {"start": iso(window["start"]), "end": iso(window["end"])},
        "totals": {"requests": requests.height, "clients": count_clients(requests)},
        # Filled by the flow analysis, the inventory and the detectors.
        "clients": [],
        "architectures": [],
        "findings": [],
    }


def write_json(report: dict[str, Any], destination: str | Path) -> None:
    """Write the report to a path, or to standard output for `-`."""
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if str(destination) == "-":
        import sys

        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        Path(destination).write_text(text + "\n", encoding="utf-8")
