"""`logscope convert`: logs parsed once into a store, the canonical frame as Parquet partitioned by day,
so repeated analyses skip parsing (logscope.ingest.stores reads it back).

    logscope convert access.log* --out store/      # store/day=2026-05-20/….parquet + store/logscope-inputs.json
    logscope analyze store/                         # reads the Parquet (lazily), not the logs

The manifest keeps what ingest reported per input (format, lines, parsed, rejected, samples), so the
report of a converted store says the same about its inputs as the report of the logs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..flows import FlowOptions
from ..formats import FormatChoice
from ..ingest import (
    Ingest,
    InputReport,
    ProgressHook,
    parse_inputs,
)
from ..ingest.stores import MANIFEST, NULL_DAY, STORE_VERSION, is_store
from .executors import InProcess, executor_for
from .shards import MAX_SHARDS, Inputs, ParseJob, Written, client_partition, parse_on, shard_of
from .sources import BLOCK_BYTES, expand_inputs


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out must be a directory")
    if out.exists() and any(out.iterdir()) and not is_store(out):
        raise InputError(f"{out}: directory exists and is not a logscope store; choose an empty or new one")


def _write_manifest(out: Path, requests: int, inputs: list[InputReport], **fields: object) -> None:
    manifest = {"version": STORE_VERSION, "requests": requests, **fields, "inputs": [asdict(r) for r in inputs]}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")


@dataclass
class _StoreWriter:
    """Requests written block by block into day folders of a staging directory inside the store; the
    store's old files are replaced by them in `commit`, once everything was written."""

    out: Path
    staging: Path
    requests: int = 0
    files: int = 0
    partitions: int = 0  # client partitions inside each day (0: none), by the shards' hash of the address
    prefix: str = ""  # before each file's number: one writer per input (or range of one), on a cluster
    unlogged_scheme: bool = False

    def keep(self, block: pl.DataFrame) -> None:
        self.unlogged_scheme |= block["scheme"].null_count() > 0
        keys = [pl.col("ts").dt.date().alias("_day")]
        if self.partitions:
            keys.append(shard_of(FlowOptions(), self.partitions).alias("_client"))
        for key, part in (
            block.with_columns(keys).partition_by([k.meta.output_name() for k in keys], as_dict=True, include_key=False).items()
        ):
            day = key[0] if key[0] is not None else NULL_DAY
            folder = self.staging / f"day={day}" / (client_partition(int(key[1])) if self.partitions else "")  # type: ignore[arg-type]
            folder.mkdir(parents=True, exist_ok=True)
            part.write_parquet(folder / f"part-{self.prefix}{self.files:06d}.parquet")
            self.files += 1
        self.requests += block.height

    def commit(self, inputs: list[InputReport], requests: int | None = None, unlogged_scheme: bool | None = None) -> None:
        for old in [*self.out.glob("day=*/*.parquet"), *self.out.glob("day=*/client=*/*.parquet")]:
            old.unlink()
        for f in sorted(self.staging.rglob("*.parquet")):
            target = self.out / f.relative_to(self.staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            f.rename(target)
        fields = {
            "client_partitions": self.partitions,
            "unlogged_scheme": self.unlogged_scheme if unlogged_scheme is None else unlogged_scheme,
        }
        _write_manifest(self.out, self.requests if requests is None else requests, inputs, **(fields if self.partitions else {}))


@contextmanager
def _writing(out: Path) -> Iterator[_StoreWriter]:
    """A writer into the store `out`; a failure before `commit` leaves the store as it was."""
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=out))
    try:
        yield _StoreWriter(out, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_store(ingest: Ingest, out: Path) -> Path:
    """Write requests already read (`read_logs`) partitioned by UTC day, and the inputs' reports beside them."""
    with _writing(out) as store:
        store.keep(ingest.requests)
        store.commit(ingest.inputs)
    return out


def convert_logs(
    specs: Sequence[str],
    out: Path,
    choice: FormatChoice | None = None,
    *,
    naive_tz: str = "UTC",
    progress: ProgressHook | None = None,
    scheduler: str | None = None,
    partitions: int | None = None,
) -> tuple[int, list[InputReport]]:
    """Parse logs straight into a store, block by block (memory holds a few blocks, whatever the size of
    the logs): the requests written and the inputs' reports. The store is replaced only when every
    input was read; a failed conversion leaves the directory as it was.

    With `scheduler` (logscope.executors) or `partitions`, the store is partitioned by day and by client:
    each day's folder holds `partitions` (default: two per worker) client partitions by the hash the shards
    use, parsed input by input (a large plain file range by range) by the cluster's workers; `analyze STORE`
    in as many shards reads each partition where it is."""
    executor = executor_for(scheduler)
    try:
        if isinstance(executor, InProcess) and partitions is None:
            with _writing(out) as store:
                inputs = parse_inputs(list(specs), choice, naive_tz=naive_tz, block_bytes=BLOCK_BYTES, progress=progress, keep=store.keep)
                store.commit(inputs)
            return store.requests, inputs
        count = partitions or 2 * executor.workers
        if not 1 <= count <= MAX_SHARDS:
            raise InputError(f"--shards must be between 1 and {MAX_SHARDS}, not {count}")
        with _writing(out) as store:
            sources = expand_inputs(list(specs))
            if any(src.is_stdin for src in sources):
                raise InputError("standard input cannot be converted in partitions: name the files")
            step = ConvertStep(store.staging, count, Inputs(sources, choice or FormatChoice(), naive_tz))
            inputs, unlogged, requests = parse_on(executor, step.inputs, partial(convert_job, step))
            store.partitions = count
            store.commit(inputs, requests, unlogged)
    finally:
        executor.close()
    return requests, inputs


@dataclass(frozen=True)
class ConvertStep:
    """What converting one input (or range of one) needs, sent to the worker that parses it."""

    staging: Path
    partitions: int
    inputs: Inputs


def convert_job(step: ConvertStep, job: ParseJob) -> Written:
    """Parse an input (or one range of it) into the staging store's day and client partitions."""
    writer = _StoreWriter(step.staging.parent, step.staging, partitions=step.partitions, prefix=job.prefix)
    report = job.parse(step.inputs, writer.keep)
    return report, writer.unlogged_scheme, writer.requests
