"""What `logscope watch` tells the operator: events, from one batch's verdicts to the next.

- `client-stuck`: a client's closed attempts make it stuck (once; again only after it recovered), at the
  end of the attempt that did it;
- `client-recovered`: a client that was stuck or failing connects (a stuck one: any successful attempt, though its
  failures may keep it `degraded`);
- `finding-opened` / `finding-cleared`: a client gains or loses a failure mode, or the server a finding
  about its policy (no client then). A client forgotten (idle past --forget-after, or beyond --max-clients)
  has its findings let go silently: forgetting is not fixing (the metrics count the clients forgotten).

The JSON form of an event is described by logscope/data/events.schema.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from ..detectors import Finding, severity_rank
from ..inventory.agents import classify_user_agents
from ..timestamps import iso
from .state import LiveState, Verdicts

EVENTS = ("client-stuck", "client-recovered", "finding-opened", "finding-cleared")


@dataclass
class Event:
    event: str
    ts: datetime | None  # log time
    client_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    agent: str | None = None
    code: str | None = None
    severity: str | None = None
    count: int | None = None
    title: str | None = None
    failure_modes: list[str] = field(default_factory=list)
    fix: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "ts": iso(self.ts),
            "client_id": self.client_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "agent": self.agent,
            "code": self.code,
            "severity": self.severity,
            "count": self.count,
            "title": self.title,
            "failure_modes": self.failure_modes,
            "fix": self.fix,
        }


#: User-Agents whose agent name the watch remembers (each is named when a client's event first needs it).
KNOWN_AGENTS = 10_000


@dataclass
class Tracker:
    """What was told so far, to tell only what changed."""

    #: Per client, the last outcome events were based on and whether it was told stuck (and not recovered since).
    told: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"client_id": pl.String, "outcome": pl.String, "stuck": pl.Boolean})
    )
    open: dict[tuple[str | None, str], Finding] = field(default_factory=dict)
    agents: dict[str | None, str | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENTS, 0))

    def agent(self, user_agent: str | None) -> str | None:
        if user_agent not in self.agents:
            if len(self.agents) >= KNOWN_AGENTS:  # one User-Agent per client must not grow the watch: oldest out
                del self.agents[next(iter(self.agents))]
            named = classify_user_agents(pl.Series([user_agent], dtype=pl.String))
            self.agents[user_agent] = named["agent"][0] if named.height else None
        return self.agents[user_agent]

    def update(self, verdicts: Verdicts, state: LiveState) -> list[Event]:
        events: list[Event] = []
        modes_of: dict[str, list[str]] = {}
        for cid, code in verdicts.modes:
            if cid is not None:
                modes_of.setdefault(cid, []).append(code)
        # Who changed, in one join over all clients; only they are looked at one by one (few).
        now = verdicts.outcomes
        if now.height:
            joined = now.join(self.told.rename({"outcome": "_before", "stuck": "_stuck"}), on="client_id", how="left")
            told_stuck = pl.col("_stuck").fill_null(False)
            gets_stuck = (pl.col("outcome") == "stuck") & ~told_stuck
            # A stuck client that connects at last is no longer stuck, even if its failures keep it degraded.
            recovers = ~gets_stuck & (
                ((pl.col("outcome") == "connected") & pl.col("_before").is_in(["stuck", "failing"]))
                | (told_stuck & (pl.col("outcome") == "degraded"))
            )
            joined = joined.with_columns(gets_stuck.alias("_gets_stuck"), recovers.alias("_recovers"))
            for row in joined.filter(pl.col("_gets_stuck") | pl.col("_recovers")).iter_rows(named=True):
                cid = row["client_id"]
                who = {"client_id": cid, "ip": row["ip"], "user_agent": row["user_agent"], "agent": self.agent(row["user_agent"])}
                modes = sorted(modes_of.get(cid, []))
                if row["_gets_stuck"]:
                    fix = _fix_of(verdicts, cid, modes)
                    events.append(Event("client-stuck", row["stuck_at"], **who, count=row["failed"], failure_modes=modes, fix=fix))
                else:
                    events.append(Event("client-recovered", row["last_ok"], **who, failure_modes=modes))
            current = joined.select("client_id", "outcome", ((told_stuck | pl.col("_gets_stuck")) & ~pl.col("_recovers")).alias("stuck"))
            self.told = pl.concat([self.told.join(current, on="client_id", how="anti"), current])
        opened, cleared = verdicts.modes.keys() - self.open.keys(), self.open.keys() - verdicts.modes.keys()
        # A client forgotten (idle past --forget-after, or beyond --max-clients) has not been fixed: its findings
        # are let go without an event (logscope_clients_forgotten counts it), and what was told of it with them.
        tracked = set(state.clients["client_id"].cast(pl.String)) if state.clients is not None else set()
        gone = {key for key in cleared if key[0] is not None and key[0] not in tracked}
        cleared -= gone
        if gone:
            self.told = self.told.filter(pl.col("client_id").is_in(list(tracked)))
        clients = _who(state, {cid for cid, _ in opened | cleared if cid is not None})
        for key, f in verdicts.modes.items():
            if key in opened:
                events.append(_finding_event("finding-opened", f, key[0], clients, self, f.last_seen))
        for key, f in self.open.items():
            if key in cleared and key not in gone:
                events.append(_finding_event("finding-cleared", f, key[0], clients, self, state.watermark))
        self.open = dict(verdicts.modes)
        for e in events:
            self.counts[e.event] += 1
        return sorted(events, key=lambda e: (e.ts is None, e.ts.timestamp() if e.ts else 0.0, EVENTS.index(e.event)))


def _fix_of(verdicts: Verdicts, cid: str, modes: list[str]) -> dict[str, str]:
    """The fix of the client's most severe failure mode."""
    found = [verdicts.modes[(cid, m)] for m in modes]
    found.sort(key=lambda f: severity_rank(f.severity))
    return found[0].fix if found else {}


def _who(state: LiveState, ids: set[str]) -> dict[str, tuple[str | None, str | None]]:
    if state.clients is None or not ids:
        return {}
    named = state.clients.filter(pl.col("client_id").is_in(list(ids))).select("client_id", "ip", "user_agent")
    return {cid: (ip, ua) for cid, ip, ua in named.iter_rows()}


def _finding_event(kind: str, f: Finding, cid: str | None, clients: dict, tracker: Tracker, ts: datetime | None) -> Event:
    ip, ua = clients.get(cid, (None, None)) if cid is not None else (None, None)
    return Event(kind, ts, cid, ip, ua, tracker.agent(ua) if cid is not None else None, f.code, f.severity, f.count, f.title, fix=f.fix)
