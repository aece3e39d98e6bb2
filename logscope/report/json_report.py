"""The JSON report (docs/model.md, "JSON report"), built from an analysis."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import polars as pl

from ..timestamps import iso, iso_expr
from ..version import __version__

if TYPE_CHECKING:
    from ..analysis import Analysis
    from ..detectors import Finding
    from ..ingest import Ingest

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


@cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema of the report, shipped in the package."""
    return json.loads(resources.files("logscope.data").joinpath("report.schema.json").read_text("utf-8"))


def finding_json(f: Finding) -> dict[str, Any]:
    from ..detectors import short_fix

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
        "fix_summary": short_fix(f.code, next(iter(f.fix), None)),
        **({"answered_by": f.answered_by} if f.answered_by else {}),
        **({"edge": f.edge} if f.edge else {}),
        "evidence": [e.to_json() for e in f.evidence],
    }


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
    "session",
    "session_evidence",
)


def client_table(analysis: Analysis) -> pl.DataFrame:
    """The report's clients as a frame, stuck first, each column formatted as the JSON writes it."""
    rank = pl.col("outcome").replace_strict(OUTCOME_ORDER, return_dtype=pl.Int8)
    clients = analysis.clients.sort(rank, pl.col("failed_attempts"), "first_seen", "client_id", descending=[False, True, False, False])
    return clients.select(
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


def client_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """The report's clients as Python dicts, converted once."""
    with collector_paused():
        return client_table(analysis).to_dicts()


class ClientTable:
    """The report's clients left as a frame (`build_report(..., clients="frame")`, what `logscope analyze`
    uses): Polars writes them into the JSON and the HTML reads their columns, so a log of 50,000 clients
    never makes 50,000 dicts (a third of a second here). `clients_where` reads either form. (Not a
    dataclass: orjson would write a dataclass's fields itself.)"""

    __slots__ = ("frame",)

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return self.frame.height


def clients_where(report: dict[str, Any], outcome: str, *, negate: bool = False) -> list[dict[str, Any]]:
    """The report's clients with (or, `negate`, without) this outcome, as dicts, in the report's order."""
    clients = report["clients"]
    if isinstance(clients, ClientTable):
        chosen = pl.col("outcome") != outcome if negate else pl.col("outcome") == outcome
        return clients.frame.filter(chosen).to_dicts()
    return [c for c in clients if (c["outcome"] != outcome) == negate]


def client_frame(report: dict[str, Any]) -> pl.DataFrame:
    """The report's clients as a frame, whichever form the report holds them in."""
    clients = report["clients"]
    if isinstance(clients, ClientTable):
        return clients.frame
    if not clients:
        return pl.DataFrame(schema=CLIENT_DTYPES)
    return pl.DataFrame(clients, schema_overrides=CLIENT_DTYPES, infer_schema_length=None)


#: Types of the client fields that may be null in every row (so a frame from dicts has the frame's types).
CLIENT_DTYPES = {
    "id": pl.String,
    "ip": pl.String,
    "user_agent": pl.String,
    "agent": pl.String,
    "agent_version": pl.String,
    "kind": pl.String,
    "network": pl.String,
    "transport": pl.String,
    "transport_evidence": pl.String,
    "mcp_transport": pl.String,
    "architecture": pl.String,
    "first_seen": pl.String,
    "last_seen": pl.String,
    "stuck_since": pl.String,
    "outcome": pl.String,
    "failure_modes": pl.List(pl.String),
    "paths": pl.List(pl.String),
    "network_asn": pl.Int64,
    "network_country": pl.String,
}


#: Architectures the report lists, in the table's order (MCP first, failing first, then by traffic): one
#: User-Agent per request (a crawler farm, an attacker) makes one architecture per client, and the report
#: would repeat the clients list; `totals` keeps the counts of all of them.
LISTED_ARCHITECTURES = 1000


def architecture_rows(analysis: Analysis) -> list[dict[str, Any]]:
    from ..inventory.architectures import OUTCOMES

    out = []
    for a in analysis.architectures.head(LISTED_ARCHITECTURES).iter_rows(named=True):
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


def build_report(analysis: Analysis | Ingest, *, clients: Literal["rows", "frame"] = "rows") -> dict[str, Any]:
    """The report document for an analysis (an `Ingest` is diagnosed first). Its clients are a list of
    dicts, or with `clients="frame"` a `ClientTable` that `write_json` and the HTML report read as columns."""
    from ..analysis import Analysis, diagnose

    if not isinstance(analysis, Analysis):
        analysis = diagnose(analysis)
    # Every request belongs to one client: the window and the total come from the clients, which a log
    # read in shards has whole (its requests are on disk).
    table = analysis.flows.clients
    window = table.select(pl.col("first_seen").min().alias("start"), pl.col("last_seen").max().alias("end")).row(0, named=True)
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"logscope {__version__}",
        "inputs": [r.to_json() for r in analysis.ingest.inputs],
        "window": {"start": iso(window["start"]), "end": iso(window["end"])},
        "totals": {
            "requests": int(table["requests"].sum()),
            "clients": table.height,
            "mcp_clients": table.filter(pl.col("outcome") != "not-mcp").height,
            "stuck_clients": table.filter(pl.col("outcome") == "stuck").height,
            "architectures": analysis.architectures.height,
            "mcp_architectures": analysis.architectures.filter(pl.col("mcp")).height,
        },
        "server": {"transport": analysis.flows.server.to_json(), **_edge(analysis)},
        "clients": ClientTable(client_table(analysis)) if clients == "frame" else client_rows(analysis),
        "architectures": architecture_rows(analysis),
        "findings": [finding_json(f) for f in analysis.findings],
    }


def _edge(analysis: Analysis) -> dict[str, Any]:
    """The edge in front of the server that wrote the logs, where they name one."""
    from ..detectors import edge_name

    found = [str(r.format_detail["edge"]) for r in analysis.ingest.inputs if r.format_detail.get("edge")]
    if not found:
        return {}
    return {
        "edge": {
            "edge": found[0],
            "name": edge_name(found[0]),
            "answered_by_logged": any(r.format_detail.get("answered_by_logged") for r in analysis.ingest.inputs),
        }
    }


def write_json(report: dict[str, Any], destination: str | Path) -> None:
    """Write the report to a path, or to standard output for `-`."""
    data = orjson.dumps(report, default=_fragment, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)
    if str(destination) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(destination).write_bytes(data)


def _fragment(value: Any) -> Any:
    """A ClientTable as the JSON array Polars writes (one object per client, the fields in order)."""
    if isinstance(value, ClientTable):
        return orjson.Fragment(value.frame.write_json())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
