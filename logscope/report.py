"""The JSON report (../shared/spec/analysis-model.md, "JSON report"), built from an analysis."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from . import __version__

if TYPE_CHECKING:
    from .analysis import Analysis
    from .detectors import Finding
    from .ingest import Ingest

SCHEMA_VERSION = 1
OUTCOME_ORDER = {"stuck": 0, "failing": 1, "degraded": 2, "connected": 3, "not-mcp": 4}


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while many small, acyclic objects are built.

    Converting the client table makes about a million dicts, lists and strings, and every full
    collection on the way walks all of those made so far again: 0.55 of 0.83 s for 50k clients.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as the report writes every time."""
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "") + "Z"


@cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema of the report, shipped in the package."""
    return json.loads(resources.files("logscope.data").joinpath("report.schema.json").read_text("utf-8"))


def finding_json(f: Finding) -> dict[str, Any]:
    from .detectors import short_fix

    return {
        "code": f.code,
        "severity": f.severity,
        "title": f.title,
        "detail": f.detail,
        "clients": f.clients,
        "count": f.count,
        "first_seen": iso(f.first_seen),
        "last_seen": iso(f.last_seen),
        "fix": f.fix,
        "fix_summary": short_fix(f.code),
        "evidence": [e.to_json() for e in f.evidence],
    }


def iso_expr(column: str) -> pl.Expr:
    """`iso` as a column expression: whole seconds without a fraction, otherwise microseconds, then Z."""
    ts = pl.col(column).dt.convert_time_zone("UTC")
    return (
        pl.when(ts.dt.microsecond() == 0)
        .then(ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .otherwise(ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        .alias(column)
    )


CLIENT_FIELDS = (
    "id",
    "ip",
    "user_agent",
    "agent",
    "agent_version",
    "kind",
    "network",
    "transport",
    "transport_evidence",
    "mcp_transport",
    "teardown",
    "architecture",
    "requests",
    "attempts",
    "successful_attempts",
    "failed_attempts",
    "first_seen",
    "last_seen",
    "stuck_since",
    "outcome",
    "failure_modes",
    "paths",
)


def client_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """The report's clients, stuck first; formatted as columns, converted to Python once."""
    rank = pl.col("outcome").replace_strict(OUTCOME_ORDER, return_dtype=pl.Int8)
    clients = analysis.clients.sort(rank, pl.col("failed_attempts"), "first_seen", "client_id", descending=[False, True, False, False])
    table = clients.select(
        pl.col("client_id").alias("id"),
        *[pl.col(c) for c in CLIENT_FIELDS[1:10]],
        pl.col("teardown").fill_null(False),
        *[pl.col(c) for c in CLIENT_FIELDS[11:16]],
        iso_expr("first_seen"),
        iso_expr("last_seen"),
        iso_expr("stuck_since"),
        *[pl.col(c) for c in CLIENT_FIELDS[19:]],
        # Beyond the spec: the owner's AS number and registration country, where the data says.
        pl.col("network_asn"),
        pl.col("network_country"),
    )
    with collector_paused():
        return table.to_dicts()


def architecture_rows(analysis: Analysis) -> list[dict[str, Any]]:
    from .inventory.architectures import OUTCOMES

    out = []
    for a in analysis.architectures.iter_rows(named=True):
        out.append(
            {
                "id": a["architecture"],
                "label": a["label"],
                "agent": a["agent"],
                "kind": a["kind"],
                "network": a["network"],
                "transport": a["transport"],
                "mcp_transport": a["mcp_transport"],
                "teardown": bool(a["teardown"]),
                "clients": a["clients"],
                "ips": a["ips"],
                "requests": a["requests"],
                "outcomes": {o: a[o] for o in OUTCOMES if a[o]},
            }
        )
    return out


def build_report(analysis: Analysis | Ingest) -> dict[str, Any]:
    """The report document for an analysis (an `Ingest` is diagnosed first)."""
    from .analysis import Analysis, diagnose

    if not isinstance(analysis, Analysis):
        analysis = diagnose(analysis)
    # Every request belongs to one client: the window and the total come from the clients, which a log
    # read in shards has whole (its requests are on disk).
    clients = analysis.flows.clients
    window = clients.select(pl.col("first_seen").min().alias("start"), pl.col("last_seen").max().alias("end")).row(0, named=True)
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"logscope {__version__}",
        "inputs": [r.to_json() for r in analysis.ingest.inputs],
        "window": {"start": iso(window["start"]), "end": iso(window["end"])},
        "totals": {
            "requests": int(clients["requests"].sum()),
            "clients": clients.height,
            "mcp_clients": clients.filter(pl.col("outcome") != "not-mcp").height,
            "stuck_clients": clients.filter(pl.col("outcome") == "stuck").height,
            "architectures": analysis.architectures.height,
        },
        "server": {"transport": analysis.flows.server.to_json()},
        "clients": client_rows(analysis),
        "architectures": architecture_rows(analysis),
        "findings": [finding_json(f) for f in analysis.findings],
    }


def write_json(report: dict[str, Any], destination: str | Path) -> None:
    """Write the report to a path, or to standard output for `-`."""
    data = orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)
    if str(destination) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(destination).write_bytes(data)
