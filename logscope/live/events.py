"""What `logscope watch` tells the operator: events, from one batch's verdicts to the next.

- `client-stuck`: a client's closed attempts make it stuck (once; again only after it recovered), at the
  end of the attempt that did it;
- `client-recovered`: a client that was stuck or failing connects (a stuck one: any successful attempt, though its
  failures may keep it `degraded`);
- `finding-opened` / `finding-cleared`: a client gains or loses a failure mode, or the server a finding
  about its policy (no client then).

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


@dataclass
class Tracker:
    """What was told so far, to tell only what changed."""

    outcomes: dict[str, str] = field(default_factory=dict)  # client -> the last outcome events were based on
    stuck: set[str] = field(default_factory=set)  # clients told stuck and not recovered since
    open: dict[tuple[str | None, str], Finding] = field(default_factory=dict)
    agents: dict[str | None, str | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENTS, 0))

    def agent(self, user_agent: str | None) -> str | None:
        if user_agent not in self.agents:
            named = classify_user_agents(pl.Series([user_agent], dtype=pl.String))
            self.agents[user_agent] = named["agent"][0] if named.height else None
        return self.agents[user_agent]

    def update(self, verdicts: Verdicts, state: LiveState) -> list[Event]:
        events: list[Event] = []
        modes_of: dict[str, list[str]] = {}
        for cid, code in verdicts.modes:
            if cid is not None:
                modes_of.setdefault(cid, []).append(code)
        for row in verdicts.outcomes.iter_rows(named=True):
            cid, outcome, before = row["client_id"], row["outcome"], self.outcomes.get(row["client_id"])
            who = {"client_id": cid, "ip": row["ip"], "user_agent": row["user_agent"], "agent": self.agent(row["user_agent"])}
            modes = sorted(modes_of.get(cid, []))
            fix = _fix_of(verdicts, cid, modes)
            if outcome == "stuck" and cid not in self.stuck:
                self.stuck.add(cid)
                events.append(Event("client-stuck", row["stuck_at"], **who, count=row["failed"], failure_modes=modes, fix=fix))
            elif (outcome == "connected" and before in ("stuck", "failing")) or (cid in self.stuck and outcome == "degraded"):
                # A stuck client that connects at last is no longer stuck, even if its failures keep it degraded.
                self.stuck.discard(cid)
                events.append(Event("client-recovered", row["last_ok"], **who, failure_modes=modes))
            self.outcomes[cid] = outcome
        clients = _who(state)
        for key, f in verdicts.modes.items():
            if key not in self.open:
                events.append(_finding_event("finding-opened", f, key[0], clients, self, f.last_seen))
        for key, f in list(self.open.items()):
            if key not in verdicts.modes:
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


def _who(state: LiveState) -> dict[str, tuple[str | None, str | None]]:
    if state.clients is None:
        return {}
    return {cid: (ip, ua) for cid, ip, ua in state.clients.select("client_id", "ip", "user_agent").iter_rows()}


def _finding_event(kind: str, f: Finding, cid: str | None, clients: dict, tracker: Tracker, ts: datetime | None) -> Event:
    ip, ua = clients.get(cid, (None, None)) if cid is not None else (None, None)
    return Event(kind, ts, cid, ip, ua, tracker.agent(ua) if cid is not None else None, f.code, f.severity, f.count, f.title, fix=f.fix)
