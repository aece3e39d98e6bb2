"""Reading a store that `logscope convert` wrote: the canonical frame as Parquet, partitioned by day,
with a manifest of what ingest reported per input (so the report of a store says the same about its
inputs as the report of the logs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..schema import CANONICAL, conform
from .result import Ingest, InputReport, RejectedLine, input_position, merge_in_time_order

MANIFEST = "logscope-inputs.json"
NULL_DAY = "__HIVE_DEFAULT_PARTITION__"  # requests without a time (how Polars names a null partition)
STORE_VERSION = 1


def is_store(path: Path) -> bool:
    try:
        return path.is_dir() and (path / MANIFEST).is_file()
    except OSError:  # e.g. a parent directory the user may not enter: the input check says so in one line
        return False


def stored_requests(path: Path) -> int:
    """How many requests a store holds, from its manifest (0 when it cannot be read: reading it says why)."""
    try:
        return int(_manifest(path).get("requests", 0))
    except (InputError, ValueError, TypeError, AttributeError):
        return 0


def read_manifest_fields(path: Path) -> dict:
    """The manifest's own fields (requests, client_partitions, unlogged_scheme), checked like `read_manifest`."""
    return {k: v for k, v in _manifest(path).items() if k != "inputs"}


def read_manifest(path: Path) -> list[InputReport]:
    """The inputs' reports a store's manifest keeps (checked to be a store this logscope reads)."""
    return _inputs(_manifest(path))


def _manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable logscope store manifest ({exc})") from None
    if manifest.get("version") != STORE_VERSION:
        raise InputError(f"{path}: a logscope store of version {manifest.get('version')}, this logscope reads {STORE_VERSION}")
    return manifest


def _inputs(manifest: dict) -> list[InputReport]:
    inputs = []
    for item in manifest["inputs"]:
        item = dict(item)
        samples = [RejectedLine(**s) for s in item.pop("rejected_samples", [])]
        inputs.append(InputReport(**item, rejected_samples=samples))
    return inputs


def scan_store(path: Path) -> pl.LazyFrame | None:
    """The requests of a store, lazily (None when it holds none). Files written block by block carry the
    columns their inputs log (nginx's remote_user, say): they are lined up by name."""
    files = _files(path)
    if not files:
        return None
    return pl.concat([pl.scan_parquet(f, hive_partitioning=False) for f in files], how="diagonal_relaxed").drop("day", strict=False)


def store_batches(path: Path, rows: int) -> Iterator[pl.DataFrame]:
    """A store's requests, canonical, in batches of at most `rows` (for reading it in shards)."""
    import pyarrow.parquet as pq

    for f in _files(path):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=rows):
            yield conform(pl.from_arrow(batch).drop("day", strict=False)).collect()  # type: ignore[union-attr]


def read_store(path: Path) -> Ingest:
    """A store written by `write_store`, back as an Ingest (requests in time order)."""
    manifest = _manifest(path)
    scan = scan_store(path)
    requests = conform(scan).collect() if scan is not None else pl.DataFrame(schema=CANONICAL)
    if requests.height != manifest.get("requests"):
        raise InputError(f"{path}: the store holds {requests.height} requests, its manifest says {manifest.get('requests')}")
    inputs = _inputs(manifest)
    # Back to the order ingest produced: inputs as the operator named them, lines in file order, then a
    # stable sort by time (equal times keep that order).
    requests = requests.sort(input_position(inputs), "line")
    return Ingest(requests=merge_in_time_order([requests]), inputs=inputs)


def _files(path: Path) -> list[Path]:
    """A store's Parquet files: in day folders, and in client partitions inside them when written so."""
    return sorted([*path.glob("day=*/*.parquet"), *path.glob("day=*/client=*/*.parquet")])
