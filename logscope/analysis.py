"""One call from access logs to a diagnosis: ingest, flows, findings. The CLI, notebooks and tests use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .detectors import SEVERITIES, Context, Finding, run_detectors
from .flows import FlowOptions, Flows, build_flows
from .formats import FormatChoice
from .ingest import Ingest, ProgressHook, read_logs


@dataclass
class Analysis:
    ingest: Ingest
    flows: Flows
    findings: list[Finding]

    @property
    def requests(self) -> pl.DataFrame:
        return self.flows.requests

    @property
    def clients(self) -> pl.DataFrame:
        """Per client, with `failure_modes`: the codes of the findings that name it."""
        modes: dict[str, list[str]] = {}
        for f in self.findings:
            for cid in f.clients:
                modes.setdefault(cid, []).append(f.code)
        table = pl.DataFrame(
            {"client_id": list(modes), "failure_modes": list(modes.values())},
            schema={"client_id": pl.String, "failure_modes": pl.List(pl.String)},
        )
        return self.flows.clients.join(table, on="client_id", how="left").with_columns(pl.col("failure_modes").fill_null([]))

    def findings_at_or_above(self, severity: str) -> list[Finding]:
        limit = SEVERITIES.index(severity)
        return [f for f in self.findings if SEVERITIES.index(f.severity) <= limit]


def diagnose(ingest: Ingest, options: FlowOptions | None = None) -> Analysis:
    flows = build_flows(ingest, options)
    return Analysis(ingest=ingest, flows=flows, findings=run_detectors(Context(flows, ingest)))


def analyze(
    inputs: Sequence[str | Path] | str | Path,
    choice: FormatChoice | None = None,
    options: FlowOptions | None = None,
    *,
    naive_tz: str = "UTC",
    progress: ProgressHook | None = None,
) -> Analysis:
    """Read the logs and diagnose them: `analyze("access.log").findings`."""
    return diagnose(read_logs(inputs, choice, naive_tz=naive_tz, progress=progress), options)
