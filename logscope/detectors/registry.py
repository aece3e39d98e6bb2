"""The detectors' registry and what they share: `Context` (what a detector reads), `Finding`, the
`detector` decorator that registers one in `DETECTORS`, and `run_detectors` / `select_all` /
`describe_all`, which run them all."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from ..choices import SEVERITIES
from ..flows import Flows, neighbours
from ..ingest import Ingest, log_order

SERVERS = ("nginx", "caddy", "traefik", "apache")  # the servers whose fix a report lists first when no log names its own
MAX_EVIDENCE = 6
FAILING = ("stuck", "failing")
#: Findings about the server's policy rather than a client's connection: they name no clients, so they
#: never appear among a client's failure modes (and a report does not list every HTTPS client twice).
#: Filled by `@detector(..., server_level=True)` as the detectors register.
SERVER_LEVEL: set[str] = set()


@cache
def fixes() -> dict[str, dict[str, str]]:
    return tomllib.loads(resources.files("logscope.data").joinpath("fixes.toml").read_text("utf-8"))


@cache
def edges() -> dict[str, dict[str, Any]]:
    """The edges logscope reads logs of (data/edges.toml): their names, and what their redirects can send."""
    return tomllib.loads(resources.files("logscope.data").joinpath("edges.toml").read_text("utf-8"))


def edge_name(edge: str) -> str:
    return str(edges().get(edge, {}).get("name", edge))


def server_fixes(code: str, first: Sequence[str] = ()) -> dict[str, str]:
    """The fix of `code` per server and edge, those named in `first` first (the systems the logs came from)."""
    table = {k: v for k, v in fixes().get(code, {}).items() if isinstance(v, str) and k != "short"}
    ordered = [k for k in first if k in table] + [k for k in table if k not in first]
    return {k: table[k] for k in ordered}


def short_fix(code: str, system: str | None = None) -> str | None:
    """The one line the summary shows: the system's own where it needs another, else the usual one."""
    entry = fixes().get(code, {})
    return entry.get("short_for", {}).get(system) or entry.get("short")


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
    #: "edge" when the requests it is about were answered by the edge in front of the server itself (its own
    #: redirect), "origin" when by the server behind it; None where no log says. `edge` names that edge.
    answered_by: str | None = None
    edge: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")


EvidenceFetch = Callable[[pl.DataFrame], pl.DataFrame]  # (shard, seq) pairs -> those annotated requests


@dataclass
class Context:
    """What detectors read: the annotated requests, attempts and clients, and what the logs record.

    A detector selects on one shard's requests (`requests`, the whole log when it is not sharded) and
    describes from the global tables (`clients`, `ingest`, `flows.server`): `requests` is only read
    by the selecting half.
    """

    flows: Flows
    ingest: Ingest
    shard: int = 0
    fetch: EvidenceFetch | None = None  # how `evidence` finds requests outside `requests`
    #: Per client, the sums `logscope watch` keeps of requests it folded away (logscope.live.carry), for
    #: the rules that look at all of a client's requests; None when every request is in `requests`.
    carried: pl.DataFrame | None = None

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
        sources = self.sources_logging(column)
        if len(sources) == len(self.ingest.inputs):  # the usual case: no copy of every row
            return self.requests
        return self.requests.filter(pl.col("source").is_in(sources))

    def outcomes(self, client_ids: list[str]) -> dict[str, int]:
        chosen = self.clients.filter(pl.col("client_id").is_in(client_ids))
        return dict(chosen.group_by("outcome").len().iter_rows())

    def any_failing(self, client_ids: list[str]) -> bool:
        return any(self.outcomes(client_ids).get(o, 0) for o in FAILING)

    def systems(self) -> list[str]:
        """The systems the logs came from, to put their fix first: the edges that wrote them, then the servers."""
        found = []
        for edge in (str(r.format_detail["edge"]) for r in self.ingest.inputs if r.format_detail.get("edge")):
            found += [edge, *edges().get(edge, {}).get("also", [])]
        found += [r.format for r in self.ingest.inputs if r.format in SERVERS]
        return list(dict.fromkeys(found))

    def edge(self) -> str | None:
        """The edge the logs came from (the first, where several inputs name one)."""
        return next((str(r.format_detail["edge"]) for r in self.ingest.inputs if r.format_detail.get("edge")), None)

    def answered(self, tally: pl.DataFrame) -> tuple[str | None, str | None]:
        """Who answered the requests a tally counts (`answered_by` among its columns): ("edge", its name) when
        the edge did for most of them, ("origin", its name) when the server behind it did; (None, None)
        where no log says."""
        edge = self.edge()
        if edge is None or "answered_by" not in tally.columns or tally.height == 0:
            return None, None
        counts = dict(tally.group_by(pl.col("answered_by").cast(pl.String)).agg(pl.col("n").sum()).iter_rows())
        by_edge, by_origin = counts.get("edge", 0), counts.get("origin", 0)
        if not by_edge and not by_origin:
            return None, None
        return ("edge" if by_edge >= by_origin else "origin"), edge

    def tally(self, rows: pl.DataFrame, *by: str, partner: str | None = None) -> pl.DataFrame:
        """`rows` (annotated requests, in log order) reduced to one row per client and value of `by`: how
        many, first and last seen, and the first few for evidence (each with the `partner` request shown
        beside it). A client's requests all live in one shard, so tallies of shards simply concatenate."""
        # Only the first few per group are kept, so their place in log order is worked out afterwards.
        first = pl.struct(
            "ts",
            "source",
            "line",
            pl.col("seq").cast(pl.UInt32),
            (pl.col(partner) if partner else pl.lit(None)).cast(pl.UInt32).alias("partner"),
        )
        return (
            rows.group_by("client_id", *by, maintain_order=True)
            .agg(
                pl.len().alias("n"),
                pl.col("ts").min().alias("first_seen"),
                pl.col("ts").max().alias("last_seen"),
                first.head(MAX_EVIDENCE).alias("first"),
            )
            .with_columns(pl.lit(self.shard, pl.UInt32).alias("shard"))
        )

    def finding(
        self,
        code: str,
        severity: str,
        title: str,
        detail: str,
        tally: pl.DataFrame,
        *,
        count: int | None = None,
        pairs: bool = False,
        fix: dict[str, str] | None = None,
    ) -> Finding:
        """A finding about the requests `tally` counts: who, how often, when, evidence and fix.

        Evidence is the first requests of the tally in log order, or with `pairs` the first three, each
        shown with its partner request (the follow-up, or the request before). The fix of the system the
        logs came from comes first; where the tally says the server behind the edge answered, the servers'."""
        clients = [] if code in SERVER_LEVEL else tally["client_id"].drop_nulls().unique().to_list()
        answered_by, edge = self.answered(tally)
        first = [s for s in self.systems() if s != edge] if answered_by == "origin" else self.systems()
        return Finding(
            code=code,
            severity=severity,
            title=title,
            detail=detail,
            clients=sorted(clients),
            count=int(tally["n"].sum()) if count is None else count,
            first_seen=tally["first_seen"].min() if tally.height else None,  # type: ignore[arg-type]
            last_seen=tally["last_seen"].max() if tally.height else None,  # type: ignore[arg-type]
            fix=fix if fix is not None else server_fixes(code, first),
            evidence=self.evidence(self._evidence_refs(tally, pairs)),
            answered_by=answered_by,
            edge=edge,
        )

    def _evidence_refs(self, tally: pl.DataFrame, pairs: bool) -> pl.DataFrame:
        """(shard, seq) of the evidence: the first tallied requests in log order, or with `pairs` the
        first three and the partner request of each."""
        first = tally.select("shard", "first").explode("first").unnest("first").drop_nulls("seq")
        first = first.sort(log_order(self.ingest.inputs))
        if not pairs:
            return first.head(MAX_EVIDENCE).select("shard", "seq")
        head = first.head(3)
        both = pl.concat([head.select("shard", "seq"), head.select("shard", pl.col("partner").alias("seq"))])
        return both.drop_nulls("seq")

    def evidence(self, refs: pl.DataFrame) -> list[Evidence]:
        """The requests `refs` (shard, seq) names, in log order, as an operator reads them."""
        refs = refs.head(MAX_EVIDENCE * 2)
        if refs.height == 0:
            return []
        rows = self.fetch(refs) if self.fetch is not None else self.requests.filter(pl.col("seq").is_in(refs["seq"].implode()))
        rows = rows.sort(log_order(self.ingest.inputs))
        return [Evidence(f"{r['source']}:{r['line']}", request_text(r)) for r in rows.head(MAX_EVIDENCE).iter_rows(named=True)]


def request_text(r: dict[str, Any]) -> str:
    """One request as an operator reads it: time, client, request, status, redirect target, agent."""
    from ..timestamps import iso

    target = (r.get("path") or "-") + (f"?{r['query']}" if r.get("query") else "")
    scheme = f" [{r['scheme_eff']}{'?' if r.get('scheme_evidence') == 'inferred' else ''}]" if r.get("scheme_eff") else ""
    text = f'{iso(r["ts"])} {r["client_ip"]} "{r.get("method") or "-"} {target}"{scheme} {r.get("status")}'
    if r.get("location"):
        text += f" -> {r['location']}"
    return text + f' "{r["user_agent"]}"' if r.get("user_agent") else text + " (no User-Agent)"


def at_least(tally: pl.DataFrame, n: int) -> pl.DataFrame:
    """The tally's rows of the clients it counts `n` times or more in all. A threshold per client is applied
    here, in `describe`, so that tallies of any parts of a client's requests (shards, or the batches of
    `logscope watch`) add up to the tally of the whole."""
    if tally.height == 0:
        return tally
    totals = tally.group_by("client_id").agg(pl.col("n").sum().alias("_total"))
    return tally.join(totals.filter(pl.col("_total") >= n), on="client_id", how="semi", maintain_order="left")


Select = Callable[[Context], pl.DataFrame]  # one shard's requests -> a tally (Context.tally)
Describe = Callable[[Context, pl.DataFrame], list[Finding]]  # all shards' tallies -> findings


@dataclass(frozen=True)
class Detector:
    """One failure mode: `select` tallies the requests it concerns in one shard of clients (or the whole
    log), `describe` words the findings from the tallies of all shards and the global tables. Counts
    and words are apart so that a log too large for memory can be read shard by shard."""

    describe: Describe
    codes: tuple[str, ...]  # the finding codes it can report (data/fixes.toml, docs/model.md)
    select: Select | None = None  # None: the finding is read from the global tables alone
    #: The tally of any part of a client's requests is that part's own (a rule request by request, no
    #: neighbours, no threshold per client): `logscope watch` folds requests into such tallies.
    local: bool = False
    #: Its findings are about the server's policy, not a client's connection: they name no clients and are
    #: never among a client's failure modes.
    server_level: bool = False

    @property
    def name(self) -> str:
        return self.describe.__name__


DETECTORS: list[Detector] = []


def detector(*codes: str, select: Select | None = None, local: bool = False, server_level: bool = False) -> Callable[[Describe], Describe]:
    """Register a detector, whole: the codes it reports, how it selects, and what kind of finding it makes. The
    order of registration is the order findings of equal rank are listed."""
    if not codes:
        raise ValueError("a detector names the finding codes it reports")

    def register(describe: Describe) -> Describe:
        DETECTORS.append(Detector(describe, codes, select, local, server_level))
        if server_level:
            SERVER_LEVEL.update(codes)
        return describe

    return register


def select_all(ctx: Context) -> list[pl.DataFrame | None]:
    """Every detector's tally of one shard (None for detectors that select nothing)."""
    return [d.select(ctx) if d.select is not None else None for d in DETECTORS]


def describe_all(ctx: Context, shards: list[list[pl.DataFrame | None]]) -> list[Finding]:
    """The findings, from every detector's tallies of every shard, most severe first."""
    findings = []
    for i, d in enumerate(DETECTORS):
        tallies = [s[i] for s in shards if s[i] is not None and s[i].height]  # type: ignore[union-attr]
        tally = pl.concat(tallies, how="diagonal_relaxed") if tallies else pl.DataFrame()
        findings.extend(d.describe(ctx, tally))
    return sorted(findings, key=lambda f: (severity_rank(f.severity), -len(f.clients), -f.count))


def run_detectors(ctx: Context) -> list[Finding]:
    """All findings of a log held whole (one shard)."""
    return describe_all(ctx, [select_all(ctx)])
