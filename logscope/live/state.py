"""The verdicts of `logscope watch`, kept up to date batch by batch with the functions `analyze` uses.

Each batch of new lines is parsed into canonical rows. The addresses it touches are analysed again over
their retained requests (and the carry of what was folded), with `build_flows` and every detector's `select`, exactly as one shard of a
sharded analysis (a client lives at one address, and every per-client rule is exact there): their rows
in the clients table, the attempts and the detector tallies are replaced. The few things that span
addresses are kept as sums over clients (the redirects that show a server redirects plain HTTP, the
server's transport facts); when they change what the log says of everyone, every client is analysed
again. Findings are worded by the detectors' `describe` from all tallies, as `analyze` words them.

So the state after the last batch is `analyze` of the same lines: same clients, outcomes and failure
modes. Verdicts follow the log's own time (`watermark`, the latest timestamp read), never the clock: an
attempt still within the attempt gap of the watermark may grow, so events only count closed attempts.

Memory: per client seen within `forget_after` of the watermark (at most `max_clients` clients, the least
recently seen are forgotten first), a row of sums of the requests folded away (logscope.live.carry) and
the requests held whole: those not yet far enough behind the watermark, and a client's requests from its
first one that a detector reads more closely on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from ..analysis import Analysis, inventory
from ..detectors import DETECTORS, Context, Finding, select_all, severity_rank
from ..flows import (
    FlowOptions,
    Flows,
    build_flows,
    facts_from_rows,
    forwarded_client,
    inferred_redirect_rows,
    outcome_rule,
    redirect_candidates,
    redirecting_inputs,
    rules,
    server_transport,
    transport_fact_rows,
)
from ..formats import FormatChoice
from ..ingest import Ingest, InputParser, InputReport, log_order
from ..runners.sources import Block
from ..schema import RAW, RECORD, empty_frame
from .carry import MAX_FOLD_LAG, carry_into, empty_carry, fold, fold_tallies

SAMPLE_LINES = 50  # lines a new input's format is detected from (its first non-blank ones)


@dataclass
class Verdicts:
    """What the events are computed from: per client the outcome of its closed attempts and when it got
    stuck, and per (client or server, code) the findings whose last request is closed."""

    outcomes: pl.DataFrame  # client_id, ip, user_agent, outcome, stuck_at, failed
    modes: dict[tuple[str | None, str], Finding] = field(default_factory=dict)  # (client_id or None, code)


@dataclass
class LiveState:
    choice: FormatChoice = field(default_factory=FormatChoice)
    options: FlowOptions = field(default_factory=FlowOptions)
    naive_tz: str = "UTC"
    forget_after: timedelta = timedelta(hours=24)
    max_clients: int = 100_000
    order: list[str] = field(default_factory=list)  # inputs as named: ties in time keep this order
    parsers: dict[str, InputParser] = field(default_factory=dict)
    pending: dict[str, list[Block]] = field(default_factory=dict)  # lines of inputs whose format is not known yet
    history: pl.DataFrame = field(default_factory=empty_frame)  # the retained requests (`_rid`: their number)
    carry: pl.DataFrame = field(default_factory=empty_carry)  # per client, the sums of its folded requests
    fold_lag: timedelta | None = None  # None: as far as lines arrived out of order (`disorder`)
    disorder: timedelta = timedelta(0)  # the most a line was behind one read before it (at most MAX_FOLD_LAG)
    clients: pl.DataFrame | None = None
    attempts: pl.DataFrame | None = None
    tallies: list[pl.DataFrame | None] = field(default_factory=lambda: [None] * len(DETECTORS))
    folded_tallies: list[pl.DataFrame | None] = field(default_factory=lambda: [None] * len(DETECTORS))  # of local detectors
    redirects: pl.DataFrame | None = None  # ip, source, status, n: redirects that look like HTTP -> HTTPS
    facts: pl.DataFrame | None = None  # per address: the server-transport counts that add up ...
    hops: pl.DataFrame | None = None  # ... and its redirected requests by status and method
    redirecting: dict[str, list[int]] = field(default_factory=dict)
    annotated_schema: pl.Schema | None = None
    watermark: datetime | None = None
    last_verdicts: Verdicts | None = None  # the verdicts the last events were told from (for views and metrics)
    forgotten: int = 0
    folded: int = 0  # requests folded into the carry
    late: int = 0  # requests analysed out of their place: more than MAX_FOLD_LAG behind the log's time, or
    # begun before what was folded of their client (a stream logged when it ends): sessionized after it
    read: int = 0  # requests fed (numbers them)
    lines: int = 0
    rejected: int = 0
    non_request: int = 0  # lines that are no request (start-up messages, TCP connections): counted, not rejected

    # -- input ---------------------------------------------------------------------------------------------

    @property
    def inputs(self) -> list[InputReport]:
        return [self.parsers[n].report for n in self.order if n in self.parsers]

    def _parser(self, name: str, block: Block) -> InputParser | None:
        if name in self.parsers:
            return self.parsers[name]
        self.pending.setdefault(name, []).append(block)
        sample = [s for b in self.pending[name] for s in b.frame[RAW].to_list() if s.strip()][:SAMPLE_LINES]
        if not sample:
            return None
        self.parsers[name] = InputParser.detect(name, self.choice, sample, self.naive_tz)
        if name not in self.order:
            self.order.append(name)
        return self.parsers[name]

    def parse(self, batch: Sequence[tuple[str, Block]]) -> pl.DataFrame:
        """The canonical rows of a batch of blocks; lines are counted (and rejected ones sampled) per input."""
        frames = []
        for name, block in batch:
            parser = self._parser(name, block)
            if parser is None:
                continue
            for held in self.pending.pop(name, [block]):
                prepared = parser.prepare(held)
                lines, rejected, canonical = parser.parse(prepared)
                parser.account(prepared, lines, rejected)
                self.lines += lines
                self.non_request += prepared.joined
                if rejected is not None:
                    records = rejected[RECORD].is_not_null().sum()
                    self.non_request += records
                    self.rejected += rejected.height - records
                frames.append(canonical)
        return pl.concat(frames, how="diagonal_relaxed") if frames else empty_frame()

    # -- analysis ------------------------------------------------------------------------------------------

    def _address(self) -> pl.Expr:
        return forwarded_client() if self.options.trust_forwarded else pl.col("client_ip")

    def feed(self, rows: pl.DataFrame) -> None:
        """Take a batch's canonical rows: analyse the addresses it touches again, forget the idle."""
        if rows.height == 0:
            return
        self._note_disorder(rows)
        latest = rows["ts"].max()
        if latest is not None and (self.watermark is None or latest > self.watermark):  # type: ignore[operator]
            self.watermark = latest  # type: ignore[assignment]
        touched = rows.select(self._address().cast(pl.String).unique())[:, 0]
        rows = rows.with_columns(pl.int_range(self.read, self.read + rows.height, dtype=pl.UInt64).alias("_rid"))
        self.read += rows.height
        self.history = pl.concat([self.history, rows], how="diagonal_relaxed")
        self._analyse(touched, rows.height)
        self._forget()

    def _rows_of(self, addresses: pl.Series | None) -> pl.DataFrame:
        rows = self.history if addresses is None else self.history.filter(self._address().cast(pl.String).is_in(addresses.implode()))
        return rows.sort(log_order(self.inputs))

    def _analyse(self, addresses: pl.Series | None, fresh: int = 0) -> None:
        """Flows and tallies of these addresses (None: all), replacing what was known of them."""
        ingest = Ingest(requests=self._rows_of(addresses), inputs=self.inputs)
        flows = build_flows(ingest, self.options, self.redirecting)
        # What spans addresses is summed over them: first the redirects that show HTTP -> HTTPS.
        redirects = _redirects_by_address(flows)
        self.redirects = _replace(self.redirects, redirects, "ip", addresses)
        redirecting = redirecting_inputs(
            {(s, int(c)): int(n) for s, c, n in self.redirects.group_by("source", "status").agg(pl.col("n").sum()).iter_rows()}
        )
        if redirecting != self.redirecting:  # the log now says otherwise of every client: all again
            self.redirecting = redirecting
            if addresses is not None:
                self._analyse(None, fresh)
                return
            flows = build_flows(ingest, self.options, self.redirecting)
        carried = self.carry if addresses is None else self.carry.filter(pl.col("ip").is_in(addresses.cast(pl.String).implode()))
        flows = carry_into(flows, carried, self.redirecting, self.options)
        self.late += _begun_before_folded(flows.requests, carried, self.read - fresh)
        ids = flows.clients["client_id"]
        tallies = select_all(Context(flows, ingest, carried=carried))
        # A local detector's tally of folded requests is held apart (Detector.local): added back here.
        tallies = [
            t
            if f is None or t is None
            else pl.concat([f.filter(pl.col("client_id").cast(pl.String).is_in(ids.implode())), t], how="diagonal_relaxed")
            for t, f in zip(tallies, self.folded_tallies, strict=True)
        ]
        self.tallies = [
            _replace(old, new, "client_id", None if addresses is None else ids) for old, new in zip(self.tallies, tallies, strict=True)
        ]
        self.clients = _replace(self.clients, flows.clients, "ip", addresses)
        self.attempts = _replace(
            self.attempts, flows.attempts.with_columns(pl.col("client_id").cast(pl.String)), "client_id", None if addresses is None else ids
        )
        facts, hops = _facts_by_address(flows)
        self.facts, self.hops = _replace(self.facts, facts, "ip", addresses), _replace(self.hops, hops, "ip", addresses)
        self.annotated_schema = flows.requests.schema
        self._fold(flows)

    def _note_disorder(self, rows: pl.DataFrame) -> None:
        """How far lines arrive out of order: behind an earlier line of their input, or behind the log's time."""
        ts = pl.col("ts")
        figures = [(ts.cum_max().over("source") - ts).max().alias("within")]
        if self.watermark is not None:
            figures += [(pl.lit(self.watermark) - ts).max().alias("across"), (ts < self.watermark - MAX_FOLD_LAG).sum().alias("late")]
        seen = rows.select(figures).row(0, named=True)
        self.late += int(seen.get("late") or 0)
        behind = max([v for k, v in seen.items() if k != "late" and v is not None], default=timedelta(0))
        self.disorder = min(max(self.disorder, behind), MAX_FOLD_LAG)

    def _fold(self, flows: Flows) -> None:
        """Fold what is far enough behind the log's time into the carry (logscope.live.carry)."""
        if self.watermark is None:
            return
        hsts = [r.path for r in self.inputs if "hsts" in r.format_detail.get("logged", ())]
        lag = self.fold_lag if self.fold_lag is not None else self.disorder
        self.carry, rids = fold(flows, self.carry, self.watermark - lag, hsts)
        if rids.len():
            rows = flows.requests.filter(pl.col("_rid").is_in(rids.implode()))
            ctx = Context(
                Flows(rows, flows.attempts, flows.clients, flows.server, flows.options), Ingest(requests=rows, inputs=self.inputs)
            )
            for i, d in enumerate(DETECTORS):
                if d.local and d.select is not None:
                    self.folded_tallies[i] = fold_tallies(self.folded_tallies[i], d.select(ctx))
            self.folded += rids.len()
            self.history = self.history.filter(~pl.col("_rid").is_in(rids.implode()))

    def _forget(self) -> None:
        """Clients idle for `forget_after` of log time, and the least recently seen beyond `max_clients`."""
        if self.clients is None or self.watermark is None:
            return
        stale = self.clients.filter(pl.col("last_seen") < self.watermark - self.forget_after)
        over = self.clients.height - stale.height - self.max_clients
        if over > 0:
            kept = self.clients.filter(~pl.col("client_id").is_in(stale["client_id"].implode()))
            stale = pl.concat([stale, kept.sort("last_seen", "client_id").head(over)])
        if stale.height == 0:
            return
        gone_ids, gone_ips = stale["client_id"].implode(), stale["ip"].unique()
        self.forgotten += stale.height
        self.clients = self.clients.filter(~pl.col("client_id").is_in(gone_ids))
        self.attempts = self.attempts.filter(~pl.col("client_id").is_in(gone_ids)) if self.attempts is not None else None
        self.carry = self.carry.filter(~pl.col("client_id").is_in(gone_ids))
        self.tallies = [t.filter(~pl.col("client_id").cast(pl.String).is_in(gone_ids)) if t is not None else None for t in self.tallies]
        self.folded_tallies = [
            t.filter(~pl.col("client_id").cast(pl.String).is_in(gone_ids)) if t is not None else None for t in self.folded_tallies
        ]
        # Requests go with their clients; an address stays while another of its clients is kept.
        ua = pl.col("user_agent").cast(pl.String)
        keys = stale.select(pl.col("ip"), pl.col("user_agent")).with_columns(pl.lit(True).alias("_gone"))
        history = self.history.with_columns(self._address().cast(pl.String).alias("ip"), ua.alias("_ua"))
        history = history.join(keys.rename({"user_agent": "_ua"}), on=["ip", "_ua"], how="left", nulls_equal=True)
        self.history = history.filter(pl.col("_gone").is_null()).drop("ip", "_ua", "_gone")
        remaining = self.clients["ip"].unique().implode()
        gone_addresses = gone_ips.filter(~gone_ips.is_in(remaining))
        for attr in ("redirects", "facts", "hops"):
            frame = getattr(self, attr)
            if frame is not None:
                setattr(self, attr, frame.filter(~pl.col("ip").is_in(gone_addresses.implode())))

    # -- verdicts ------------------------------------------------------------------------------------------

    def flows(self) -> Flows:
        """The tracked clients as one Flows (no requests: detectors' `describe` reads the tables)."""
        empty = pl.DataFrame(schema=self.annotated_schema) if self.annotated_schema is not None else empty_frame()
        clients = self.clients if self.clients is not None else pl.DataFrame()
        attempts = self.attempts if self.attempts is not None else pl.DataFrame()
        # Folded requests were no redirects and never plain HTTP as logged: of the facts they only show a logged scheme.
        folded = self.carry.group_by("ip").agg(
            pl.lit(0).alias("redirected"),
            pl.lit(0).alias("redirected_unlogged"),
            pl.col("_all_logged").any().alias("scheme_logged"),
            pl.lit(0).alias("plain"),
        )
        facts = (
            pl.concat([f for f in (self.facts, folded) if f is not None and f.height], how="diagonal_relaxed")
            if self.carry.height
            else self.facts
        )
        known = facts is not None and self.hops is not None and facts.height > 0
        server = server_transport([facts_from_rows(facts, self.hops)] if known else [])  # type: ignore[arg-type]
        return Flows(requests=empty, attempts=attempts, clients=clients, server=server, options=self.options)

    def findings(self, settled_before: datetime | None = None) -> list[Finding]:
        """The findings, worded as `analyze` words them; with `settled_before`, only those whose requests began
        before it (an attempt that can still grow is left out of what events report until it is over). A tally
        row counts all of a client's requests of one kind: it is settled by its first one, not its last, or a
        client's finding would be cleared each time a new occurrence arrives (and a finding another one hides,
        opened meanwhile)."""
        flows = self.flows()
        ctx = Context(flows, Ingest(requests=flows.requests, inputs=self.inputs), fetch=lambda refs: flows.requests)
        found = []
        for d, tally in zip(DETECTORS, self.tallies, strict=True):
            t = tally if tally is not None else pl.DataFrame()
            if settled_before is not None and t.height and "first_seen" in t.columns:
                t = t.filter(pl.col("first_seen") < settled_before)
            found.extend(d.describe(ctx, t))
        return sorted(found, key=lambda f: (severity_rank(f.severity), -len(f.clients), -f.count))

    def verdicts(self, final: bool = False) -> Verdicts:
        """Outcomes of closed attempts and settled findings (all of them when `final`)."""
        closed_before = None if final else rules.closed_before(self.watermark, self.options.attempt_gap_s)
        attempts = self.attempts if self.attempts is not None and self.attempts.height else None
        if attempts is None or self.clients is None:
            return Verdicts(pl.DataFrame(schema={"client_id": pl.String, "outcome": pl.String}))
        closed = attempts.filter(pl.col("counted"))
        if closed_before is not None:  # folded attempts that are over are closed whatever their end
            closed = closed.filter((pl.col("end") < closed_before) | pl.col("over"))
        outcomes = _outcomes(closed, self.clients, self.options.stuck_after)
        modes = {}
        for f in self.findings(settled_before=closed_before):
            for cid in f.clients or [None]:
                modes[(cid, f.code)] = f
        return Verdicts(outcomes, modes)

    def analysis(self) -> Analysis:
        """The whole state as an Analysis: what `analyze` gives for the same lines (evidence aside)."""
        flows = self.flows()
        ingest = Ingest(requests=flows.requests, inputs=self.inputs)
        return inventory(ingest, flows, self.findings())


def _begun_before_folded(requests: pl.DataFrame, carried: pl.DataFrame, first_new: int) -> int:
    """The batch's new MCP requests that began before the last folded one of their client (`analyze` would
    have placed them among what was folded; the watch continues the folded attempt with them)."""
    if carried.height == 0:
        return 0
    earliest, latest = requests.filter(pl.col("_rid") >= first_new)["start"].min(), carried["o_last_start"].max()
    if earliest is None or latest is None or earliest >= latest:  # type: ignore[operator]  # nothing new began that early: the usual case
        return 0
    new = requests.filter((pl.col("_rid") >= first_new) & (pl.col("role") != "other")).select(pl.col("client_id").cast(pl.String), "start")
    folded = carried.select("client_id", "o_last_start").drop_nulls()
    return new.join(folded, on="client_id").filter(pl.col("start") < pl.col("o_last_start")).height


def _replace(old: pl.DataFrame | None, new: pl.DataFrame, key: str, keys: pl.Series | None) -> pl.DataFrame:
    """`old` without the rows whose `key` is in `keys` (all rows when `keys` is None), plus `new`."""
    if old is None or keys is None or old.height == 0:
        return new
    kept = old.filter(~pl.col(key).cast(pl.String).is_in(keys.cast(pl.String).implode()))
    return pl.concat([kept, new], how="diagonal_relaxed")


def _redirects_by_address(flows: Flows) -> pl.DataFrame:
    """Per address, input and status, the redirects that look like HTTP -> HTTPS."""
    req = flows.requests
    candidates = redirect_candidates(req, flows.options).join(req.select("seq", pl.col("client_ip").cast(pl.String).alias("ip")), on="seq")
    return inferred_redirect_rows(candidates, ["ip"])


def _facts_by_address(flows: Flows) -> tuple[pl.DataFrame, pl.DataFrame]:
    return transport_fact_rows(flows.requests.with_columns(pl.col("client_ip").cast(pl.String).alias("ip")), ["ip"])


def _outcomes(attempts: pl.DataFrame, clients: pl.DataFrame, stuck_after: int) -> pl.DataFrame:
    """Each client's outcome from these attempts, by the rules (rules.attempt_counts, rules.outcome_rule), with
    the end of the attempt that made it stuck and of its last success (what the events are stamped with)."""
    counts = rules.attempt_counts(attempts).select(
        "client_id", "attempts", pl.col("successful_attempts").alias("ok"), pl.col("failed_attempts").alias("failed")
    )
    failed_so_far = ((~pl.col("success")).cast(pl.UInt32) * pl.col("weight")).cum_sum().over("client_id")
    moments = (
        attempts.sort("client_id", "attempt")
        .with_columns(failed_so_far.alias("_failed"))
        .group_by("client_id")
        .agg(
            pl.col("end").filter(pl.col("_failed") == stuck_after).min().alias("stuck_at"),
            pl.col("end").filter(pl.col("success")).max().alias("last_ok"),
        )
    )
    per = counts.join(moments, on="client_id", how="left")
    outcome = outcome_rule(pl.col("ok"), pl.col("failed"), pl.col("attempts"), stuck_after)
    mcp = clients.filter(pl.col("outcome") != "not-mcp").select("client_id", "ip", "user_agent")
    return mcp.join(per.with_columns(outcome.alias("outcome")), on="client_id", how="inner")


__all__ = ["LiveState", "Verdicts"]
