"""Detectors: small, independent functions over the flow frames, each naming one failure mode.

A detector takes a `Context` and returns findings (usually none or one). All detectors are registered
here, in `DETECTORS`, by the `detector` decorator of the module that defines them; `run_detectors`
runs them all. Codes and fields follow ../shared/spec/analysis-model.md; fixes come from
data/fixes.toml.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from ..flows import Flows, neighbours
from ..ingest import Ingest

SEVERITIES = ("critical", "high", "medium", "low", "info")
SERVERS = ("nginx", "caddy", "traefik", "apache")
MAX_EVIDENCE = 6
FAILING = ("stuck", "failing")
#: Findings about the server's policy rather than a client's connection: they name no clients, so they
#: never appear among a client's failure modes (and a report does not list every HTTPS client twice).
SERVER_LEVEL = frozenset({"hsts-missing", "hsts-weak", "hsts-over-http", "unsafe-post-redirect", "log-field-missing", "proxy-in-front"})


@cache
def fixes() -> dict[str, dict[str, str]]:
    return tomllib.loads(resources.files("logscope.data").joinpath("fixes.toml").read_text("utf-8"))


def server_fixes(code: str) -> dict[str, str]:
    return {k: v for k, v in fixes().get(code, {}).items() if k in SERVERS}


def short_fix(code: str) -> str | None:
    return fixes().get(code, {}).get("short")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass
class Evidence:
    ref: str  # source:line
    text: str

    def to_json(self) -> dict[str, str]:
        return {"ref": self.ref, "text": self.text}


@dataclass
class Finding:
    code: str
    severity: str
    title: str
    detail: str
    clients: list[str]
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    fix: dict[str, str]
    evidence: list[Evidence] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")


@dataclass
class Context:
    """What detectors read: the annotated requests, attempts and clients, and what the logs record."""

    flows: Flows
    ingest: Ingest

    @property
    def requests(self) -> pl.DataFrame:
        return self.flows.requests

    @property
    def clients(self) -> pl.DataFrame:
        return self.flows.clients

    def with_next(self, rows: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """`rows` with `next_<column>`: what the same client sent next (null for its last request)."""
        return neighbours(rows, self.requests, "next", columns)

    def with_previous(self, rows: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """`rows` with `prev_<column>`: what the same client sent before (null for its first request)."""
        return neighbours(rows, self.requests, "prev", columns)

    def sources_logging(self, column: str) -> list[str]:
        return [r.path for r in self.ingest.inputs if column in r.format_detail.get("logged", ())]

    def logs(self, column: str) -> bool:
        return bool(self.sources_logging(column))

    def rows_logging(self, column: str) -> pl.DataFrame:
        """Requests from inputs whose format records `column`, where a null means 'not sent'."""
        return self.requests.filter(pl.col("source").is_in(self.sources_logging(column)))

    def outcomes(self, client_ids: list[str]) -> dict[str, int]:
        chosen = self.clients.filter(pl.col("client_id").is_in(client_ids))
        return dict(chosen.group_by("outcome").len().iter_rows())

    def any_failing(self, client_ids: list[str]) -> bool:
        return any(self.outcomes(client_ids).get(o, 0) for o in FAILING)

    def servers(self) -> list[str]:
        """The servers the logs came from, to put their fix first."""
        families = {r.format for r in self.ingest.inputs}
        order = [s for s in ("caddy", "traefik") if s in families]
        return order + [s for s in SERVERS if s not in order]

    def finding(
        self,
        code: str,
        severity: str,
        title: str,
        detail: str,
        rows: pl.DataFrame,
        *,
        count: int | None = None,
        evidence_seqs: list[int] | None = None,
        fix: dict[str, str] | None = None,
    ) -> Finding:
        """A finding about `rows` (annotated requests): who, how often, when, evidence and fix."""
        clients = [] if code in SERVER_LEVEL else rows["client_id"].unique(maintain_order=True).to_list()
        seqs = evidence_seqs if evidence_seqs is not None else rows["seq"].head(MAX_EVIDENCE).to_list()
        return Finding(
            code=code,
            severity=severity,
            title=title,
            detail=detail,
            clients=sorted(clients),
            count=rows.height if count is None else count,
            first_seen=rows["ts"].min() if rows.height else None,  # type: ignore[arg-type]
            last_seen=rows["ts"].max() if rows.height else None,  # type: ignore[arg-type]
            fix=fix if fix is not None else server_fixes(code),
            evidence=self.evidence(seqs),
        )

    def evidence(self, seqs: list[int]) -> list[Evidence]:
        rows = self.requests.filter(pl.col("seq").is_in(seqs[: MAX_EVIDENCE * 2])).sort("seq")
        return [Evidence(f"{r['source']}:{r['line']}", request_text(r)) for r in rows.head(MAX_EVIDENCE).iter_rows(named=True)]


def request_text(r: dict[str, Any]) -> str:
    """One request as an operator reads it: time, client, request, status, redirect target, agent."""
    from ..report import iso

    target = (r.get("path") or "-") + (f"?{r['query']}" if r.get("query") else "")
    scheme = f" [{r['scheme_eff']}{'?' if r.get('scheme_evidence') == 'inferred' else ''}]" if r.get("scheme_eff") else ""
    text = f'{iso(r["ts"])} {r["client_ip"]} "{r.get("method") or "-"} {target}"{scheme} {r.get("status")}'
    if r.get("location"):
        text += f" -> {r['location']}"
    return text + f' "{r["user_agent"]}"' if r.get("user_agent") else text + " (no User-Agent)"


Detector = Callable[[Context], list[Finding]]
DETECTORS: list[Detector] = []


def detector(fn: Detector) -> Detector:
    """Register a detector; the order of registration is the order findings of equal rank are listed."""
    DETECTORS.append(fn)
    return fn


def run_detectors(ctx: Context) -> list[Finding]:
    findings = [f for fn in DETECTORS for f in fn(ctx)]
    return sorted(findings, key=lambda f: (severity_rank(f.severity), -len(f.clients), -f.count))


# Importing the modules registers their detectors.
from . import coverage, redirects, security, sessions, statuses  # noqa: E402, F401

__all__ = ["DETECTORS", "SEVERITIES", "Context", "Evidence", "Finding", "detector", "run_detectors"]
