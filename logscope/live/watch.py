"""`logscope watch`: follow the logs, keep the verdicts up to date, tell the sinks what changed.

One loop: every `batch_s` seconds of the clock, the lines that arrived (logscope.live.follow) are parsed
and fed to the state (logscope.live.state) as one batch, and the tracker turns the new verdicts into
events (logscope.live.events) for every sink. The clock only paces the batches; verdicts follow the
log's own time. `stop` ends the loop after its batch: the held last lines are read, every attempt is
closed, and the last events are sent (SIGTERM). `reopen` makes the follower open its files again by
name (SIGHUP). With `once`, the loop ends when the inputs have no more to give (a replay).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import polars as pl

from ..errors import InputError, LogscopeError
from ..flows import FlowOptions
from ..formats import FormatChoice
from ..privacy import anonymize_key, anonymize_requests
from ..runners.sources import STDIN
from ..timestamps import iso
from .events import Event, Tracker
from .follow import Follower
from .sinks import Figures, Sink
from .state import LiveState


@dataclass
class WatchOptions:
    choice: FormatChoice = field(default_factory=FormatChoice)
    flows: FlowOptions = field(default_factory=FlowOptions)
    naive_tz: str = "UTC"
    from_start: bool = False
    batch_s: float = 1.0
    poll_s: float = 0.2
    max_batch_lines: int = 250_000  # a replay (or a backlog) is read in batches of at most this: memory stays bounded
    forget_after: timedelta = timedelta(hours=24)
    max_clients: int = 100_000
    anonymize: bool = False
    once: bool = False  # stop when the inputs have nothing more (a replay), instead of following them

    def __post_init__(self) -> None:
        if not (math.isfinite(self.batch_s) and self.batch_s > 0):
            raise LogscopeError(f"--batch takes a number of seconds above 0, not {self.batch_s}")
        if self.max_clients < 1:
            raise LogscopeError(f"--max-clients takes a number of clients, 1 or more, not {self.max_clients}")
        if self.forget_after <= timedelta(0):
            raise LogscopeError("--forget-after takes a duration above 0")


@dataclass
class Watch:
    specs: Sequence[str]
    options: WatchOptions = field(default_factory=WatchOptions)
    sinks: list[Sink] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    reopen: threading.Event = field(default_factory=threading.Event)
    on_note: Callable[[str], None] = lambda note: None  # rotations, truncations, files gone

    def __post_init__(self) -> None:
        o = self.options
        self.follower = Follower(self.specs, from_start=o.from_start)
        self.state = LiveState(o.choice, o.flows, o.naive_tz, o.forget_after, o.max_clients)
        self.state.order = list(self.follower.names())
        self.tracker = Tracker()
        self.figures = Figures()
        self._key = anonymize_key() if o.anonymize else None
        self._rate: list[tuple[float, int]] = []
        self._told = 0

    def run(self) -> Tracker:
        """Follow until stopped (or, with `once`, until the inputs are read); the tracker holds the counts."""
        self.follower.start()
        if self.options.once and not any(Path(n).is_file() for n in self.follower.names() if n != STDIN) and STDIN not in self.specs:
            raise InputError(f"{', '.join(self.specs)}: no such file to read (--once reads what is there)")
        try:
            started = time.monotonic()
            while True:
                # A batch is what arrived in `batch_s` since the last one started: the time spent analysing it
                # counts, so a batch that took 0.8 s is followed by 0.2 s of reading, not a whole `batch_s`.
                batch, lines = [], 0
                while True:
                    if self.reopen.is_set():
                        self.reopen.clear()
                        self.follower.reopen()
                    got = self.follower.poll()
                    batch.extend(got)
                    lines += sum(block.frame.height for _, block in got)
                    if self.stop.is_set() or time.monotonic() - started >= self.options.batch_s or lines >= self.options.max_batch_lines:
                        break
                    if self.options.once and not got:
                        break
                    if not got:
                        time.sleep(self.options.poll_s)
                started = time.monotonic()
                self.step(batch)
                done = not batch and (self.options.once or self.follower.stdin_closed)
                if self.stop.is_set() or done:
                    break
            self.step(self.follower.finish(), final=True)
        finally:
            self.follower.close()
        return self.tracker

    def step(self, batch: list, final: bool = False) -> list[Event]:
        """One batch: parse, feed, and tell the sinks what changed."""
        began = time.monotonic()
        rows = self.state.parse(batch)
        if self._key is not None and rows.height:
            rows, _ = anonymize_requests(rows, self._key)
        self.state.feed(rows)
        verdicts = self.state.verdicts(final=final)
        self.state.last_verdicts = verdicts
        events = self.tracker.update(verdicts, self.state)
        self._figures(rows)
        self.figures.batch_seconds = time.monotonic() - began
        for sink in self.sinks:
            sink.emit(events, self.state, self.figures)
        return events

    def _figures(self, rows: pl.DataFrame) -> None:
        now = time.monotonic()
        self._rate = [(t, n) for t, n in self._rate if now - t <= 10.0] + [(now, self.state.lines)]
        span = self._rate[-1][0] - self._rate[0][0]
        f = self.figures
        f.lines, f.rejected, f.non_request = self.state.lines, self.state.rejected, self.state.non_request
        f.forgotten = self.state.forgotten
        f.retained, f.folded, f.late = self.state.history.height, self.state.folded, self.state.late
        f.lines_per_s = (self._rate[-1][1] - self._rate[0][1]) / span if span > 0 else 0.0
        f.clients = self.state.clients.height if self.state.clients is not None else 0
        f.watermark = iso(self.state.watermark)
        f.notes = list(self.follower.notes)
        for note in self.follower.notes[self._told :]:
            self.on_note(note)
        self._told = len(self.follower.notes)


def run_watch(
    specs: Sequence[str], options: WatchOptions, *, jsonl: bool = False, webhook: str | None = None, metrics: str | None = None
) -> bool:
    """`logscope watch` as a process: events to standard output (JSON lines, a live view on a terminal, or plain
    lines), to a webhook and as Prometheus metrics; SIGTERM and Ctrl-C end it after the last batch is analysed and
    its events sent, SIGHUP reopens the files. Returns whether Ctrl-C ended it."""
    import signal
    import sys

    from rich.console import Console

    from .sinks import JsonLines, LiveView, Metrics, PlainLines, Webhook

    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise LogscopeError(f"--webhook takes an http:// or https:// URL, not {webhook!r}")
    interrupted = threading.Event()
    sinks: list[Sink] = []
    hook = None
    try:
        hook = Webhook(webhook) if webhook else None
        sinks = [JsonLines(sys.stdout) if jsonl else LiveView(Console(highlight=False)) if sys.stdout.isatty() else PlainLines(sys.stdout)]
        sinks += [s for s in (hook, Metrics(metrics, hook) if metrics else None) if s is not None]
        watcher = Watch(specs, options, sinks, on_note=lambda note: print(f"logscope: {note}", file=sys.stderr))

        def interrupt(*_: object) -> None:
            interrupted.set()
            watcher.stop.set()

        # SIGTERM and Ctrl-C both end the watch the same way: the last batch is analysed and its events sent (an
        # exception raised wherever Ctrl-C fell would skip that); Ctrl-C then exits 130, as an interrupted command.
        signal.signal(signal.SIGTERM, lambda *_: watcher.stop.set())
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGHUP, lambda *_: watcher.reopen.set())
        watcher.run()
    finally:
        for sink in sinks:
            sink.close()
        if hook is not None and hook.dropped:
            undelivered = f"{hook.dropped:,} event(s) (retries run out, or still queued at exit)"
            print(f"logscope: the webhook did not deliver {undelivered}", file=sys.stderr)
    return interrupted.is_set()
