"""One call from access logs to a diagnosis: ingest, flows, findings, inventory.

The CLI, the notebooks and the tests all use `analyze` (or `diagnose` on what `read_logs` returned).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from .detectors import SEVERITIES, Context, Finding, run_detectors
from .errors import InputError
from .flows import FlowOptions, Flows, build_flows, forwarded_client
from .formats import FormatChoice
from .ingest import Ingest, InputReport, ProgressHook, merge_in_time_order, parse_inputs, read_logs
from .inventory.agents import classify_user_agents
from .inventory.architectures import architectures_table, assign_architectures
from .inventory.asn import asn_lookup, merge_owners
from .inventory.networks import default_ranges, lookup
from .privacy import anonymize_key, anonymize_requests, mask_addresses
from .runners.executors import InProcess, executor_for
from .runners.shards import (
    MAX_SHARDS,
    Prepare,
    ShardedRun,
    WholeUntilTooLarge,
    automatic_shards,
    sharded_flows,
    store_partitions,
    whole_read_budget,
)
from .runners.sources import BLOCK_BYTES, COMPRESSION_RATIO, STDIN, TooLargeToReadWhole


@dataclass
class Analysis:
    """Everything one run found: the parsed input, the flows, the findings and the client inventory."""

    ingest: Ingest
    flows: Flows
    findings: list[Finding]
    clients: pl.DataFrame  # per client: flows' columns, failure_modes, agent, kind, network, architecture
    architectures: pl.DataFrame  # per architecture: key, label, counts, outcome counts
    sharded: ShardedRun | None = None  # read in shards: the annotated requests are on disk

    @property
    def requests(self) -> pl.DataFrame:
        """The annotated requests. Read in shards, they are loaded whole from disk (in log order, with
        `seq` and the neighbour columns numbering rows within each shard): prefer `scan_requests()`."""
        return self.flows.requests

    def scan_requests(self) -> pl.LazyFrame:
        """The annotated requests as a lazy frame, wherever they are (memory, or the shards on disk)."""
        return self.flows.requests.lazy() if self.sharded is None else self.sharded.scan("annotated")

    def scan_attempts(self) -> pl.LazyFrame:
        """The attempts (one row per connection attempt) as a lazy frame, wherever they are."""
        return self.flows.attempts.lazy() if self.sharded is None else self.sharded.scan("attempts")

    def findings_at_or_above(self, severity: str) -> list[Finding]:
        limit = SEVERITIES.index(severity)
        return [f for f in self.findings if SEVERITIES.index(f.severity) <= limit]


def _with_failure_modes(clients: pl.DataFrame, findings: list[Finding]) -> pl.DataFrame:
    modes: dict[str, list[str]] = {}
    for f in findings:
        for cid in f.clients:
            modes.setdefault(cid, []).append(f.code)
    table = pl.DataFrame(
        {"client_id": list(modes), "failure_modes": list(modes.values())},
        schema={"client_id": pl.String, "failure_modes": pl.List(pl.String)},
    )
    return clients.join(table, on="client_id", how="left").with_columns(pl.col("failure_modes").fill_null([]))


def _with_agents_and_networks(clients: pl.DataFrame, owners: pl.DataFrame) -> pl.DataFrame:
    """Agent per distinct User-Agent and owner per distinct address, joined back to the clients."""
    agents = classify_user_agents(clients["user_agent"], weights=clients["requests"])
    clients = clients.join(agents, on="user_agent", how="left", nulls_equal=True, maintain_order="left")
    owners = owners.select(
        "ip",
        "network",
        pl.col("asn").alias("network_asn"),
        pl.col("region").alias("network_region"),
        pl.col("country").alias("network_country"),
    )
    return clients.join(owners, on="ip", how="left", maintain_order="left")


def _owners(ips: pl.Series, ranges: pl.DataFrame, asn_db: Path | None) -> pl.DataFrame:
    owners = lookup(ips, ranges)
    return merge_owners(owners, asn_lookup(ips, asn_db)) if asn_db is not None else owners


def _masked(inputs: list[InputReport]) -> list[InputReport]:
    return [replace(r, rejected_samples=[replace(s, text=mask_addresses(s.text)) for s in r.rejected_samples]) for r in inputs]


def _preparation(options: FlowOptions, ranges: pl.DataFrame, asn_db: Path | None, anonymize: bool) -> Prepare:
    """What happens to requests before flows: with `anonymize`, every address is replaced by its
    pseudonym (networks are looked up on the real addresses first, and forwarded addresses resolved)."""

    def prepare(ingest: Ingest) -> tuple[Ingest, FlowOptions, pl.DataFrame | None]:
        if not anonymize:
            return ingest, options, None
        requests = ingest.requests
        if options.trust_forwarded:
            requests = requests.with_columns(forwarded_client().alias("client_ip"))
        owners = _owners(requests["client_ip"], ranges, asn_db)
        anonymized, table = anonymize_requests(requests, anonymize_key())
        mapping = dict(table.iter_rows())
        owners = owners.with_columns(pl.col("ip").replace_strict(mapping, default=None, return_dtype=pl.String))
        # Forwarded addresses are already applied to the real addresses.
        return Ingest(requests=anonymized, inputs=_masked(ingest.inputs)), replace(options, trust_forwarded=False), owners

    return prepare


def inventory(
    ingest: Ingest,
    flows: Flows,
    findings: list[Finding],
    owners: pl.DataFrame | None = None,
    ranges: pl.DataFrame | None = None,
    asn_db: Path | None = None,
    sharded: ShardedRun | None = None,
) -> Analysis:
    """The client inventory (agents, networks, architectures) around flows and findings: the last step
    of `diagnose`. `owners` are the networks already looked up (anonymized runs); `ranges` default to
    the stored network ranges."""
    if ranges is None:
        ranges = default_ranges()
    if owners is None:
        owners = _owners(flows.clients["ip"], ranges, asn_db)
    clients = assign_architectures(_with_agents_and_networks(_with_failure_modes(flows.clients, findings), owners))
    return Analysis(
        ingest=ingest, flows=flows, findings=findings, clients=clients, architectures=architectures_table(clients), sharded=sharded
    )


def diagnose(
    ingest: Ingest,
    options: FlowOptions | None = None,
    network_ranges: pl.DataFrame | None = None,
    *,
    anonymize: bool = False,
    asn_db: Path | None = None,
) -> Analysis:
    """Flows, findings and inventory for what `read_logs` returned.

    `network_ranges` (logscope.inventory.networks) names the owners of client addresses; by default the
    ranges `logscope networks update` stored are used, when there are any. With `anonymize`, every
    address in the result is a stable pseudonym (logscope.privacy). `asn_db` is a MaxMind-format
    database whose AS organisations name the networks no published range covers.
    """
    options = options or FlowOptions()
    ranges = network_ranges if network_ranges is not None else default_ranges()
    ingest, options, owners = _preparation(options, ranges, asn_db, anonymize)(ingest)
    flows = build_flows(ingest, options)
    findings = run_detectors(Context(flows, ingest))
    return inventory(ingest, flows, findings, owners, ranges, asn_db)


def analyze(
    inputs: Sequence[str | Path] | str | Path,
    choice: FormatChoice | None = None,
    options: FlowOptions | None = None,
    *,
    naive_tz: str = "UTC",
    progress: ProgressHook | None = None,
    network_ranges: pl.DataFrame | None = None,
    anonymize: bool = False,
    asn_db: Path | None = None,
    shards: int | None = None,
    spill_dir: str | Path | None = None,
    scheduler: str | None = None,
) -> Analysis:
    """Read the logs and diagnose them: `analyze("access.log").findings`.

    `shards` above 1 reads the logs in that many shards of clients, so memory holds one shard's
    requests at a time (logscope.runners.shards); the answers are the same. By default logs up to 2 GiB are
    read whole and larger ones in shards of about 1 GiB, spilled under `spill_dir` (the system's
    temporary directory by default); standard input, whose length is unknown, is read whole until its parsed
    rows take too much memory, and in shards from there on (runners.shards.WholeUntilTooLarge). `scheduler`
    (a Dask scheduler's address, or `local:N`; logscope.runners.executors) analyses the shards as tasks on
    that cluster, in at least two shards a worker.
    """
    specs = [str(inputs)] if isinstance(inputs, (str, Path)) else [str(s) for s in inputs]
    count = automatic_shards(specs) if shards is None else shards
    if not 1 <= count <= MAX_SHARDS:
        raise InputError(f"--shards must be between 1 and {MAX_SHARDS}, not {count}")
    executor = executor_for(scheduler)
    parsed = None
    try:
        if isinstance(executor, InProcess) and count == 1 and shards is None and STDIN in specs:
            # Standard input's length is unknown until it ends, and it cannot be read twice: it is read whole
            # until it takes too much memory, and the rest of it (and what was read) goes to shards on disk.
            taker = WholeUntilTooLarge(options or FlowOptions(), spill_dir)
            reports = parse_inputs(specs, choice, naive_tz=naive_tz, block_bytes=BLOCK_BYTES, progress=progress, keep=taker.keep)
            parsed = taker.finish(reports)
            if parsed is None:
                ingest = Ingest(requests=merge_in_time_order(taker.frames), inputs=reports)
                return diagnose(ingest, options, network_ranges, anonymize=anonymize, asn_db=asn_db)
            count = taker.shards
        elif isinstance(executor, InProcess) and count == 1:
            try:
                budget = whole_read_budget(specs) if shards is None else None
                ingest = read_logs(specs, choice, naive_tz=naive_tz, progress=progress, budget=budget)
            except TooLargeToReadWhole as larger:  # a compressed input expands past its guess: shards, from the start
                count = max(2, automatic_shards(specs, ratio=max(larger.ratio, COMPRESSION_RATIO)))
            else:
                return diagnose(ingest, options, network_ranges, anonymize=anonymize, asn_db=asn_db)
        if shards is None and parsed is None:
            # A store written in client partitions is read in as many shards, each partition where it is.
            stored = store_partitions(Path(specs[0]), options or FlowOptions()) if len(specs) == 1 else None
            count = stored or min(MAX_SHARDS, max(count, 2 * executor.workers))
        options = options or FlowOptions()
        ranges = network_ranges if network_ranges is not None else default_ranges()
        prepare = _preparation(options, ranges, asn_db, anonymize)
        run = sharded_flows(
            specs,
            choice,
            options,
            count,
            prepare,
            naive_tz=naive_tz,
            progress=progress,
            spill_dir=spill_dir,
            executor=executor,
            parsed=parsed,
        )
    finally:
        executor.close()
    ingest = replace(run.ingest, inputs=_masked(run.ingest.inputs)) if anonymize else run.ingest
    return inventory(ingest, run.flows, run.findings, run.owners, ranges, asn_db, run.run)
