"""Logs larger than memory: requests spread over shards by client address, each shard analysed alone.

    analysis = analyze("huge.log", shards=16)     # `logscope analyze --shards 16`; automatic above 2 GiB

A client (an address and a User-Agent) lives in exactly one shard, so what the sessionizer and the
detectors compute per client is exact in its shard. What spans clients is kept as counts that add up:
which inputs' servers redirect plain HTTP (a first pass over the shards, needed only when the scheme is
not logged), the server transport, and each detector's tally, worded once from all shards. The report
is the one reading the log whole gives (tests compare them).

Memory holds one shard's requests at a time (parsed blocks are written to their shard's Parquet files
as they come), plus the clients and the detectors' tallies, which grow with clients, not with lines.
Each shard's annotated requests and attempts stay on disk, for evidence, the HTML report and
`Analysis.scan_requests()` / `scan_attempts()`, until the analysis is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import polars as pl

from ..detectors import Context, Finding, describe_all, select_all
from ..flows import (
    FlowOptions,
    Flows,
    RedirectCounts,
    ServerTransport,
    build_flows,
    forwarded_client,
    redirect_counts,
    redirecting_inputs,
    server_transport,
    transport_facts,
)
from ..formats import FormatChoice, LogFormat
from ..ingest import (
    MAX_REJECTED_SAMPLES,
    Ingest,
    InputParser,
    InputReport,
    ProgressHook,
    check_not_empty,
    detect_input,
    input_position,
    log_order,
    merge_in_time_order,
    merge_reports,
    parse_inputs,
    read_input,
    read_range,
)
from ..schema import empty_frame
from .executors import Executor, InProcess
from .sources import (
    BLOCK_BYTES,
    COMPRESSION_RATIO,
    STDIN,
    ReadBudget,
    Source,
    compression_of,
    count_lines,
    expand_inputs,
    expected_bytes,
    line_ranges,
)
from .spill import Spill, join, makedirs, matching, remove

WHOLE_BYTES = 2 << 30  # up to this much log (uncompressed) is read whole: faster, and it fits
SHARD_BYTES = 1 << 30  # log per shard when sharding is automatic: about 1.5 GB of memory for nginx lines
BYTES_PER_STORED_REQUEST = 128  # a converted store counts as the log its requests came from (nginx-sized lines)
FLUSH_ROWS = 250_000  # parsed rows held before they are written out to their shards
SEED = 0x10C5C0BE
MAX_SHARDS = 4096  # a shard is a folder and a few files: more would only cost time
# Standard input's parsed rows held to be read whole: 512 MiB is about 11 million nginx lines (46 bytes a parsed
# row), which peak near 2 GB read whole. Past it, the stream goes to STDIN_SHARDS shards: its length is
# unknown, so a fixed count (or --shards N).
STDIN_WHOLE_ROWS_BYTES = WHOLE_BYTES // 4
STDIN_SHARDS = 16


def automatic_shards(specs: Sequence[str], ratio: float = COMPRESSION_RATIO) -> int:
    """How many shards an analysis of `specs` takes by default: 1 (read whole) unless the logs are large.
    A compressed input counts as what it is expected to read as (sources.expected_bytes, with `ratio`)."""
    total = sum(size for size, _ in planned_bytes(specs, ratio).values())
    return 1 if total <= WHOLE_BYTES else min(MAX_SHARDS, math.ceil(total / SHARD_BYTES))


def planned_bytes(specs: Sequence[str], ratio: float = COMPRESSION_RATIO) -> dict[str, tuple[int, bool]]:
    """Per input, the bytes it is expected to read as, and whether that is a guess (it is compressed)."""
    from ..ingest.stores import is_store, stored_requests

    planned = {}
    for spec in specs:
        if spec == STDIN:
            continue  # unknown size: read whole unless told (--shards)
        if is_store(Path(spec)):
            planned[spec] = BYTES_PER_STORED_REQUEST * stored_requests(Path(spec)), False
            continue
        for src in expand_inputs([spec]):  # the files reading will read (a missing one: the same one-line error)
            expected = expected_bytes(src, ratio)
            if expected is not None:
                planned[src.name] = expected
    return planned


def whole_read_budget(specs: Sequence[str]) -> ReadBudget | None:
    """What reading whole may take, when compressed inputs' sizes were guessed: past it, reading raises
    TooLargeToReadWhole and `analyze` reads in shards. None when every size is known."""
    planned = planned_bytes(specs)
    if not any(guess for _, guess in planned.values()):
        return None
    return ReadBudget(WHOLE_BYTES, {name: size for name, (size, _) in planned.items()})


def shard_of(options: FlowOptions, shards: int) -> pl.Expr:
    """The shard of each request: a hash of the client's address (the one flows will use)."""
    address = forwarded_client() if options.trust_forwarded else pl.col("client_ip")
    return (address.cast(pl.String).hash(SEED) % shards).cast(pl.UInt32)


@dataclass
class _ShardWriter:
    """Takes parsed blocks and appends each one's rows to their shards' Parquet files."""

    root: str  # a local directory or a URL (logscope.spill)
    shards: int
    shard: pl.Expr
    prefix: str = ""  # before each part file's number: one writer per input, on a cluster
    held: list[list[pl.DataFrame]] = field(init=False)  # per shard, the parts not yet written
    rows: int = 0
    total: int = 0  # rows written in all
    parts: int = 0
    unlogged_scheme: bool = False
    inputs: list[InputReport] | None = None  # set when the rows come from a store, not in input order

    def __post_init__(self) -> None:
        self.held = [[] for _ in range(self.shards)]
        for i in range(self.shards):
            makedirs(self.directory(i))

    def directory(self, i: int) -> str:
        return join(self.root, f"shard-{i:04d}")

    def keep(self, block: pl.DataFrame) -> None:
        self.unlogged_scheme |= block["scheme"].null_count() > 0
        for (i,), part in block.with_columns(self.shard.alias("_shard")).partition_by("_shard", as_dict=True, include_key=False).items():
            self.held[i].append(part)  # type: ignore[index]
        self.rows += block.height
        self.total += block.height
        if self.rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for i, parts in enumerate(self.held):
            if parts:
                # Part files are numbered in the order written, which is input order.
                pl.concat(parts, how="diagonal_relaxed").write_parquet(
                    join(self.directory(i), f"part-{self.prefix}{self.parts:06d}.parquet"), compression="lz4"
                )
        self.held = [[] for _ in range(self.shards)]
        self.rows = 0
        self.parts += 1

    def discard(self, i: int) -> None:
        """Shard `i` is analysed: its parsed rows are not needed any more."""
        remove(self.directory(i))

    def load(self, i: int) -> pl.DataFrame:
        return load_shard(matching(join(self.directory(i), "part-*.parquet")), self.inputs)


def load_shard(files: Sequence[str | Path], inputs: list[InputReport] | None) -> pl.DataFrame:
    """A shard's requests in input order (inputs as named, lines in file order); `inputs` given when the
    rows came from a store, in its days' order."""
    if not files:
        return empty_frame()
    frame = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
    if inputs is None:
        return frame  # parsed here: blocks were written in input order
    return frame.sort(input_position(inputs), "line")


@dataclass
class ShardedRun:
    """What a sharded analysis leaves on disk: each shard's annotated requests and attempts."""

    directory: Spill
    inputs: list[InputReport]
    written: list[int] = field(default_factory=list)  # shards with requests (a shard can get no client)
    offsets: dict[int, int] = field(default_factory=dict)  # per shard, what its attempt numbers are numbered on from

    def path(self, kind: str, i: int) -> str:
        return shard_path(self.directory.name, kind, i)

    def scan(self, kind: str = "annotated") -> pl.LazyFrame:
        """All shards' `annotated` requests (`seq`, `next_seq`, `prev_seq` number rows within their
        shard) or `attempts`, as one lazy frame. Each shard numbers its attempts from 1; numbered on from
        the shards before, they are unique here."""
        parts = [pl.scan_parquet(self.path(kind, i)).with_columns(pl.col("attempt") + self.offsets.get(i, 0)) for i in self.written]
        return pl.concat(parts, how="diagonal_relaxed") if parts else pl.LazyFrame()

    def fetch(self, refs: pl.DataFrame) -> pl.DataFrame:
        """The annotated requests `refs` names by (shard, seq)."""
        found = []
        for (shard,), wanted in refs.partition_by("shard", as_dict=True).items():
            seqs = wanted["seq"].cast(pl.UInt32).implode()
            found.append(pl.scan_parquet(self.path("annotated", int(shard))).filter(pl.col("seq").is_in(seqs)).collect())  # type: ignore[arg-type]
        return pl.concat(found, how="diagonal_relaxed")


def shard_path(root: str, kind: str, i: int) -> str:
    return join(root, f"{kind}-{i:04d}.parquet")


class SpilledFlows(Flows):
    """The flows of a sharded run: clients in memory, requests and attempts on disk, loaded whole only
    when asked for (`scan_requests()` / `scan_attempts()` of the analysis read them lazily)."""

    def __init__(self, run: ShardedRun, clients: pl.DataFrame, server: ServerTransport, options: FlowOptions) -> None:
        self.run, self.clients, self.server, self.options = run, clients, server, options

    @property  # type: ignore[override]
    def requests(self) -> pl.DataFrame:
        """All annotated requests in log order (time, unknown last; then inputs as named; then line)."""
        return self.run.scan().sort(log_order(self.run.inputs)).collect()

    @property  # type: ignore[override]
    def attempts(self) -> pl.DataFrame:
        return self.run.scan("attempts").collect()


Prepare = Callable[[Ingest], tuple[Ingest, FlowOptions, pl.DataFrame | None]]  # a shard before flows (anonymize)


@dataclass
class ShardedResult:
    """All shards' flows gathered: the global tables, the findings, and where the requests are."""

    flows: Flows
    ingest: Ingest
    findings: list[Finding]
    owners: pl.DataFrame | None
    run: ShardedRun


def _shards_of(
    specs: Sequence[str],
    choice: FormatChoice | None,
    options: FlowOptions,
    shards: int,
    root: str,
    naive_tz: str,
    progress: ProgressHook | None,
    executor: Executor,
) -> tuple[_ShardWriter, list[InputReport]]:
    from ..ingest.stores import is_store, read_manifest, read_manifest_fields, store_batches

    writer = _ShardWriter(join(root, "parsed"), shards, shard_of(options, shards))
    if len(specs) == 1 and is_store(Path(specs[0])):
        store = Path(specs[0])
        writer.inputs = read_manifest(store)
        if store_partitions(store, options) == shards:
            # Written in client partitions by the same hash: they are the shards, read where they are.
            manifest = read_manifest_fields(store)
            writer.unlogged_scheme, writer.total = bool(manifest.get("unlogged_scheme", True)), int(manifest["requests"])
            return writer, writer.inputs
        # A store is already parsed: its files are read in batches and dealt to the shards the same way.
        for batch in store_batches(store, FLUSH_ROWS):
            writer.keep(batch)
        writer.flush()
        return writer, writer.inputs
    sources = expand_inputs(specs)
    if isinstance(executor, InProcess) or any(src.is_stdin for src in sources):
        inputs = parse_inputs(specs, choice, naive_tz=naive_tz, block_bytes=BLOCK_BYTES, progress=progress, keep=writer.keep)
        writer.flush()
        return writer, inputs
    # On a cluster each input is parsed by a worker, and a large plain file in byte ranges of whole lines,
    # each by a worker: part files are named after the input's place and the range's, so a shard's parts
    # still read in input order, lines in file order.
    step = PartitionStep(join(root, "parsed"), shards, options, Inputs(sources, choice or FormatChoice(), naive_tz))
    inputs, writer.unlogged_scheme, writer.total = parse_on(executor, step.inputs, partial(partition_input, step))
    return writer, inputs


@dataclass
class ParsedShards:
    """Inputs already parsed into shards on disk: the run's directory, the writer, the inputs' reports."""

    directory: Spill
    writer: _ShardWriter
    inputs: list[InputReport]


@dataclass
class WholeUntilTooLarge:
    """`keep` for inputs whose length nobody knows before reading them (standard input). Parsed blocks are
    held, to be analysed whole, until they take STDIN_WHOLE_ROWS_BYTES of memory; then they, and every block after
    them, go to STDIN_SHARDS shards on disk (under `spill_dir`), so memory stays bounded however long the
    stream runs. A stream cannot be read twice, so it is not started again in shards as a file is."""

    options: FlowOptions
    spill_dir: str | Path | None = None
    shards: int = STDIN_SHARDS
    frames: list[pl.DataFrame] = field(default_factory=list)
    held: int = 0
    parsed: ParsedShards | None = None

    def keep(self, frame: pl.DataFrame) -> None:
        if self.parsed is not None:
            self.parsed.writer.keep(frame)
            return
        self.frames.append(frame)
        self.held += frame.estimated_size()
        if self.held > STDIN_WHOLE_ROWS_BYTES:
            directory = Spill(self.spill_dir)
            writer = _ShardWriter(join(directory.name, "parsed"), self.shards, shard_of(self.options, self.shards))
            self.parsed = ParsedShards(directory, writer, [])
            for held in self.frames:
                writer.keep(held)
            self.frames, self.held = [], 0

    def finish(self, inputs: list[InputReport]) -> ParsedShards | None:
        """After the last block: the shards, if the inputs went to shards (None: `frames` hold them all)."""
        if self.parsed is None:
            return None
        self.parsed.writer.flush()
        self.parsed.inputs = inputs
        return self.parsed


def store_partitions(path: Path, options: FlowOptions) -> int | None:
    """How many client partitions a store was written in, when they are shards for these options (the
    same hash of the same address: not with --trust-forwarded, whose address differs); else None."""
    from ..ingest.stores import is_store, read_manifest_fields

    if options.trust_forwarded or not is_store(path):
        return None
    partitions = read_manifest_fields(path).get("client_partitions")
    return int(partitions) if partitions else None


RANGE_BYTES = 128 << 20  # a plain file larger than this is parsed on a cluster in ranges of about this size


@dataclass(frozen=True)
class ParseJob:
    """One input to parse whole, or one byte range of it (start, end, its first line's number) in the
    format detected for the whole file."""

    input: int
    part: int = 0
    span: tuple[int, int, int] | None = None
    fmt: LogFormat | None = None
    report: InputReport | None = None

    @property
    def prefix(self) -> str:
        """Before the number of each file it writes: the input's place, then the range's (input order)."""
        return f"{self.input:05d}-{self.part:05d}-"

    def parse(self, inputs: Inputs, keep: Callable[[pl.DataFrame], None]) -> InputReport:
        """Parse this input (or range of it) into `keep`: its report."""
        src = inputs.sources[self.input]
        if self.span is None:
            return read_input(src, inputs.choice, inputs.naive_tz, keep)
        return read_range(src, self.fmt, self.report, inputs.naive_tz, self.span, keep)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Inputs:
    """The inputs a plan parses, and how: what every parse task is sent."""

    sources: list[Source]
    choice: FormatChoice
    naive_tz: str


Written = tuple[InputReport, bool, int]  # a job's report, whether some scheme is unlogged, the requests it wrote


def parse_on(executor: Executor, inputs: Inputs, write: Callable[[ParseJob], Written]) -> tuple[list[InputReport], bool, int]:
    """Every input parsed by `write` (into shards, or into a store's partitions) on `executor`, one job per
    input or per range of a large plain file: the inputs' reports, whether some scheme is unlogged, and the
    requests written."""
    jobs = _parse_jobs(inputs.sources, inputs.choice, inputs.naive_tz, executor)
    written = executor.map(write, jobs)
    reports = [
        merge_reports([r for job, (r, _, _) in zip(jobs, written, strict=True) if job.input == k], MAX_REJECTED_SAMPLES)
        for k in range(len(inputs.sources))
    ]
    check_not_empty(reports)
    return reports, any(unlogged for _, unlogged, _ in written), sum(n for _, _, n in written)


def _parse_jobs(sources: list[Source], choice: FormatChoice, naive_tz: str, executor: Executor) -> list[ParseJob]:
    jobs: list[ParseJob] = []
    ranged: list[tuple[int, InputParser, list[tuple[int, int]]]] = []
    for k, src in enumerate(sources):
        size = src.size() if src.path is not None else None
        parser = detect_input(src, choice, naive_tz) if size is not None and size > RANGE_BYTES and not _gzipped(src) else None
        if parser is None or not parser.splittable:  # a W3C header or a split line carried from block to block
            jobs.append(ParseJob(k))
            continue
        ranged.append((k, parser, line_ranges(src.path, -(-size // RANGE_BYTES))))  # type: ignore[arg-type, operator]
    # Each range's first line number: the lines of the ranges before it, counted by the workers.
    spans = [(sources[k].path, a, b) for k, _, cuts in ranged for a, b in cuts]
    counts = iter(executor.map(_count_lines, spans))
    for k, parser, cuts in ranged:
        line = 1
        for r, (a, b) in enumerate(cuts):
            jobs.append(ParseJob(k, r, (a, b, line), parser.fmt, parser.report))
            line += next(counts)
    return sorted(jobs, key=lambda j: (j.input, j.part))


def _count_lines(span: tuple[Path, int, int]) -> int:
    return count_lines(*span)


def _gzipped(src: Source) -> bool:
    """Whether the file is compressed (gzip, bzip2, xz...): read whole, never cut into byte ranges."""
    with open(src.path, "rb") as f:  # type: ignore[arg-type]
        return compression_of(f.read(6)) is not None


@dataclass(frozen=True)
class PartitionStep:
    """What parsing an input into the shards needs, sent to the worker that parses it."""

    parsed: str
    shards: int
    options: FlowOptions
    inputs: Inputs


def partition_input(step: PartitionStep, job: ParseJob) -> Written:
    """Parse an input (or one range of it) and deal its requests to the shards' part files."""
    writer = _ShardWriter(step.parsed, step.shards, shard_of(step.options, step.shards), prefix=job.prefix)
    report = job.parse(step.inputs, writer.keep)
    writer.flush()
    return report, writer.unlogged_scheme, writer.total


@dataclass(frozen=True)
class ShardStep:
    """What analysing one shard needs, in values a worker process can be sent: where the shards' parsed
    requests are, where its annotated requests and attempts go, and the settings."""

    parsed: str  # where the shards' parsed requests are (or a store's directory)
    out: str  # where their annotated requests and attempts go
    inputs: list[InputReport]
    from_store: bool
    options: FlowOptions
    prepare: Prepare
    redirecting: dict[str, list[int]] = field(default_factory=dict)
    store_partitions: bool = False  # `parsed` is a store whose client partitions are the shards

    def ingest(self, i: int) -> Ingest:
        if self.store_partitions:  # a store `logscope convert --shards` wrote: its client partition i, every day of it
            files = matching(join(self.parsed, "day=*", client_partition(i), "*.parquet"))
        else:
            files = matching(join(self.parsed, f"shard-{i:04d}", "part-*.parquet"))
        rows = load_shard(files, self.inputs if self.from_store else None)
        return Ingest(requests=merge_in_time_order([rows]), inputs=self.inputs)


def client_partition(i: int) -> str:
    """The folder of client partition `i` in a store written in partitions (inside each day's folder)."""
    return f"client={i:04d}"


@dataclass
class ShardOutcome:
    """One shard analysed: what stays in memory for the merge (its requests and attempts are on disk)."""

    shard: int
    requests: int
    attempts: int
    clients: pl.DataFrame
    tallies: list[pl.DataFrame | None]
    facts: dict
    owners: pl.DataFrame | None
    options: FlowOptions


def count_redirects(step: ShardStep, i: int) -> RedirectCounts:
    """The first pass over shard `i`: its redirects that show which inputs' servers redirect plain HTTP."""
    return redirect_counts(step.ingest(i), step.options)


def analyse_shard(step: ShardStep, i: int) -> ShardOutcome:
    """Shard `i`'s flows and detector tallies; its annotated requests and attempts written to `step.out`."""
    ingest, flow_options, owners = step.prepare(step.ingest(i))
    flows = build_flows(ingest, flow_options, step.redirecting)
    tallies = select_all(Context(flows, ingest, shard=i))
    flows.requests.write_parquet(shard_path(step.out, "annotated", i), compression="lz4")
    flows.attempts.write_parquet(shard_path(step.out, "attempts", i), compression="lz4")
    facts = transport_facts(flows.requests)
    return ShardOutcome(i, ingest.requests.height, flows.attempts.height, flows.clients, tallies, facts, owners, flow_options)


def sharded_flows(
    specs: Sequence[str],
    choice: FormatChoice | None,
    options: FlowOptions,
    shards: int,
    prepare: Prepare,
    *,
    naive_tz: str = "UTC",
    progress: ProgressHook | None = None,
    spill_dir: str | Path | None = None,
    executor: Executor | None = None,
    parsed: ParsedShards | None = None,
) -> ShardedResult:
    """Parse into `shards` shards of clients, then flows and detector tallies shard by shard (one after
    another here, or as tasks of `executor`), then the merge: clients, server transport and findings.
    `parsed`: the inputs are parsed into shards already (`WholeUntilTooLarge`)."""
    executor = executor or InProcess()
    if parsed is None:
        directory = Spill(spill_dir)
        source, inputs = _shards_of(specs, choice, options, shards, directory.name, naive_tz, progress, executor)
    else:
        directory, source, inputs = parsed.directory, parsed.writer, parsed.inputs
    root = directory.name
    run = ShardedRun(directory, inputs)
    partitioned = len(specs) == 1 and source.inputs is not None and store_partitions(Path(specs[0]), options) == shards
    where = specs[0] if partitioned else join(root, "parsed")
    step = ShardStep(where, root, inputs, source.inputs is not None, options, prepare, store_partitions=partitioned)

    # First pass, only when some scheme is unlogged: which inputs' servers redirect plain HTTP.
    if source.unlogged_scheme:
        if progress is not None:
            progress(f"{shards} shards, first pass", source.total)
        counts: RedirectCounts = {}
        for found in executor.map(partial(count_redirects, step), range(shards)):
            for name, n in found.items():
                counts[name] = counts.get(name, 0) + n
        step = replace(step, redirecting=redirecting_inputs(counts))

    if progress is not None:
        progress(f"{shards} shards" + (f" on {executor.workers} workers" if executor.workers > 1 else ""), source.total)
    outcomes = executor.map(partial(analyse_shard, step), range(shards))
    for i in range(shards):
        source.discard(i)
    # A shard no client hashed to is left out (the last one is kept when none had any).
    kept = [o for o in outcomes if o.requests] or outcomes[-1:]
    offset = 0
    for o in kept:
        run.offsets[o.shard] = offset
        offset += o.attempts
        run.written.append(o.shard)
    flow_options = kept[-1].options if kept else options
    whole = SpilledFlows(
        run,
        pl.concat([o.clients for o in kept], how="diagonal_relaxed").sort("first_seen", "client_id"),
        server_transport([o.facts for o in kept]),
        flow_options,
    )
    ingest = Ingest(requests=empty_frame(), inputs=inputs)
    findings = describe_all(Context(whole, ingest, fetch=run.fetch), [o.tallies for o in kept])
    owners = [o.owners for o in kept if o.owners is not None]
    return ShardedResult(whole, ingest, findings, pl.concat(owners, how="diagonal_relaxed") if owners else None, run)
