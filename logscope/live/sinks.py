"""Where `logscope watch` sends what it sees: each sink takes every batch's events and figures.

- `JsonLines`: one JSON object per event on standard output;
- `PlainLines`: one line per event, when the output is not a terminal;
- `LiveView`: rich's Live view on a terminal (stuck and failing clients, recent events, lines/s);
- `Webhook`: POST each event as JSON, from a thread, with retries and backoff, a bounded queue and a
  count of what was dropped;
- `Metrics`: a Prometheus endpoint (prometheus-client).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from ..errors import LogscopeError
from ..report.terminal import clean, plain
from .events import Event
from .state import LiveState


@dataclass
class Figures:
    """What the operator sees of the run itself."""

    lines: int = 0
    rejected: int = 0
    non_request: int = 0
    lines_per_s: float = 0.0
    clients: int = 0
    forgotten: int = 0
    watermark: str | None = None
    notes: list[str] = field(default_factory=list)
    batch_seconds: float = 0.0  # how long the last batch took to analyse (under `--batch`: keeping up)
    retained: int = 0  # requests held whole
    folded: int = 0  # requests folded into per-client sums (logscope.live.carry)
    late: int = 0  # lines that arrived more than a minute behind the log's time


class Sink(Protocol):
    def emit(self, events: list[Event], state: LiveState, figures: Figures) -> None: ...

    def close(self) -> None: ...


class JsonLines:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def emit(self, events: list[Event], state: LiveState, figures: Figures) -> None:
        for e in events:
            self.out.write(json.dumps(e.to_json(), separators=(",", ":")) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


def describe_event(e: Event) -> str:
    """One line an operator reads, as plain text: text from the log is stripped of control characters (a view that
    prints it as markup escapes the whole line once)."""
    who = f"{plain(e.ip or '')} {plain(e.user_agent) if e.user_agent else '(no User-Agent)'}" if e.client_id else "server"
    ts = e.to_json()["ts"] or "-"
    if e.event == "client-stuck":
        return f"{ts} STUCK     {who}: {e.count} failed attempts ({', '.join(e.failure_modes) or 'no failure mode named'})"
    if e.event == "client-recovered":
        return f"{ts} RECOVERED {who}"
    verb = "opened" if e.event == "finding-opened" else "cleared"
    return f"{ts} {verb.upper():9} {e.code} ({e.severity}) {who}: {e.title}"


class PlainLines:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def emit(self, events: list[Event], state: LiveState, figures: Figures) -> None:
        for e in events:
            self.out.write(describe_event(e) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


class LiveView:
    """A terminal view redrawn after each batch: who is stuck or failing now, what happened lately."""

    def __init__(self, console: Console, keep: int = 12) -> None:
        self.console = console
        self.recent: deque[str] = deque(maxlen=keep)
        self.live = Live(console=console, auto_refresh=False, transient=False)
        self.live.start()

    def emit(self, events: list[Event], state: LiveState, figures: Figures) -> None:
        self.recent.extend(describe_event(e) for e in events)
        failing = Table(title="Stuck and failing clients", expand=False)
        for column in ("address", "user agent", "outcome", "failed attempts"):
            failing.add_column(column)
        verdicts = state.last_verdicts
        if verdicts is not None and verdicts.outcomes.height:
            rows = verdicts.outcomes.filter(verdicts.outcomes["outcome"].is_in(["stuck", "failing"])).head(20)
            for r in rows.iter_rows(named=True):
                failing.add_row(clean(r["ip"] or ""), clean(r["user_agent"] or "(none)"), r["outcome"], str(r["failed"]))
        head = (
            f"lines {figures.lines:,} ({figures.lines_per_s:,.0f}/s)   rejected {figures.rejected:,}   clients {figures.clients:,}   "
            f"log time {figures.watermark or '-'}"
        )
        recent = "\n".join(escape(line) for line in self.recent) or "(no events yet)"
        self.live.update(Group(head, failing, "Recent events", recent), refresh=True)

    def close(self) -> None:
        self.live.stop()


class Webhook:
    """POSTs each event's JSON to `url` from a thread: a full queue or retries run out count as dropped."""

    def __init__(self, url: str, *, queue_size: int = 1000, retries: int = 5, backoff_s: float = 0.5, timeout_s: float = 5.0) -> None:
        self.url, self.retries, self.backoff_s, self.timeout_s = url, retries, backoff_s, timeout_s
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=queue_size)
        self.sent = 0
        self.dropped = 0
        self.sending = False  # a post is under way (its retries included)
        self.written_off = False  # ... and `close` counted it as dropped
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="logscope-webhook", daemon=True)
        self.thread.start()

    def emit(self, events: list[Event], state: LiveState, figures: Figures) -> None:
        for e in events:
            try:
                self.queue.put_nowait(e.to_json())
            except queue.Full:
                self.dropped += 1

    def _run(self) -> None:
        while True:
            payload = self.queue.get()
            if payload is None:
                return
            self.sending = True
            delivered = self._post(payload)
            with self.lock:
                # Counted as dropped by `close` while it was under way: only a delivery changes that.
                if self.written_off:
                    self.written_off = False
                    if delivered:
                        self.dropped -= 1
                        self.sent += 1
                elif delivered:
                    self.sent += 1
                else:
                    self.dropped += 1
                self.sending = False

    def _post(self, payload: dict[str, Any]) -> bool:
        body = json.dumps(payload).encode()
        for attempt in range(self.retries):
            request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(self.backoff_s * 2**attempt)
        return False

    def close(self, wait_s: float = 10.0) -> int:
        """Send what is queued (for up to `wait_s`), then stop. What is still queued, or still being sent, then is
        never delivered: it counts as dropped, and the number is returned so that the caller can say so."""
        deadline = time.monotonic() + wait_s
        while (not self.queue.empty() or self.sending) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = 0
        while True:
            try:
                left += self.queue.get_nowait() is not None
            except queue.Empty:
                break
        with self.lock:
            if self.sending:
                left += 1  # the post under way when time ran out: dropped, unless it gets through before the end
                self.written_off = True
            self.dropped += left
        self.queue.put_nowait(None)  # room for it: the queue was just emptied
        self.thread.join(timeout=0.1)
        return left


class Metrics:
    """A Prometheus endpoint: clients by outcome, open findings by code and severity, lines, events."""

    def __init__(self, address: str, webhook: Webhook | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

        host, _, port = address.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536 or not re.fullmatch(r"[\w.:\[\]-]*", host):
            raise LogscopeError(f"--metrics takes HOST:PORT with a port from 1 to 65535, not {address!r}")
        self.registry = CollectorRegistry()
        self.clients = Gauge("logscope_clients", "Tracked clients by outcome (closed attempts)", ["outcome"], registry=self.registry)
        self.findings = Gauge("logscope_findings_open", "Open findings by code and severity", ["code", "severity"], registry=self.registry)
        self.lines = Counter("logscope_lines", "Log lines read", ["result"], registry=self.registry)
        self.events = Counter("logscope_events", "Events emitted", ["event"], registry=self.registry)
        self.dropped = Gauge("logscope_webhook_dropped", "Events the webhook could not deliver", registry=self.registry)
        self.batch = Histogram(
            "logscope_batch_seconds",
            "Time to analyse one batch (the watch keeps up while this stays under --batch)",
            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.requests = Gauge("logscope_requests", "Requests held whole and folded into per-client sums", ["kept"], registry=self.registry)
        self.late = Gauge("logscope_lines_late", "Lines that arrived more than a minute behind the log's time", registry=self.registry)
        self.forgotten = Gauge(
            "logscope_clients_forgotten", "Clients forgotten (idle past --forget-after, or beyond --max-clients)", registry=self.registry
        )
        self.webhook = webhook
        self._seen = (0, 0, 0)
        try:
            self.server, self.thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry)
        except OSError as exc:
            raise LogscopeError(f"--metrics cannot listen on {address} ({exc.strerror or exc})") from None

    def emit(self, events: list[Event], state: LiveState, figures: Figures) -> None:
        parsed = figures.lines - figures.rejected - figures.non_request
        self.lines.labels("parsed").inc(parsed - self._seen[0])
        self.lines.labels("rejected").inc(figures.rejected - self._seen[1])
        self.lines.labels("non_request").inc(figures.non_request - self._seen[2])
        self._seen = (parsed, figures.rejected, figures.non_request)
        for e in events:
            self.events.labels(e.event).inc()
        self.batch.observe(figures.batch_seconds)
        self.requests.labels("whole").set(figures.retained)
        self.requests.labels("folded").set(figures.folded)
        self.late.set(figures.late)
        self.forgotten.set(figures.forgotten)
        verdicts = state.last_verdicts
        if verdicts is not None:
            counts = verdicts.outcomes.group_by("outcome").len() if verdicts.outcomes.height else None
            for outcome in ("connected", "degraded", "stuck", "failing"):
                n = counts.filter(counts["outcome"] == outcome)["len"].sum() if counts is not None else 0
                self.clients.labels(outcome).set(n)
            self.findings.clear()
            by_code: dict[tuple[str, str], int] = {}
            for (_, code), f in verdicts.modes.items():
                by_code[(code, f.severity)] = by_code.get((code, f.severity), 0) + 1
            for (code, severity), n in by_code.items():
                self.findings.labels(code, severity).set(n)
        if self.webhook is not None:
            self.dropped.set(self.webhook.dropped)

    def close(self) -> None:
        self.server.shutdown()
