"""Converted logs: the canonical frame as Parquet, partitioned by day, so repeated analyses skip parsing.

    logscope convert access.log* --out store/      # store/day=2026-05-20/….parquet + store/logscope-inputs.json
    logscope analyze store/                         # reads the Parquet (lazily), not the logs

The manifest keeps what ingest reported per input (format, lines, parsed, rejected, samples), so the
report of a converted store says the same about its inputs as the report of the logs.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import polars as pl

from .errors import InputError
from .ingest import Ingest, InputReport, RejectedLine, merge_in_time_order
from .schema import CANONICAL, conform

MANIFEST = "logscope-inputs.json"
STORE_VERSION = 1


def is_store(path: Path) -> bool:
    try:
        return path.is_dir() and (path / MANIFEST).is_file()
    except OSError:  # e.g. a parent directory the user may not enter: the input check says so in one line
        return False


def write_store(ingest: Ingest, out: Path) -> Path:
    """Write the requests partitioned by UTC day, and the inputs' reports beside them."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out must be a directory")
    if out.exists() and any(out.iterdir()) and not is_store(out):
        raise InputError(f"{out}: directory exists and is not a logscope store; choose an empty or new one")
    out.mkdir(parents=True, exist_ok=True)
    frame = ingest.requests.with_columns(pl.col("ts").dt.date().alias("day"))
    for old in out.glob("day=*/*.parquet"):
        old.unlink()
    frame.write_parquet(out, partition_by="day")
    manifest = {"version": STORE_VERSION, "requests": ingest.requests.height, "inputs": [asdict(r) for r in ingest.inputs]}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return out


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


def read_store(path: Path) -> Ingest:
    """A store written by `write_store`, back as an Ingest (requests in time order)."""
    manifest = _manifest(path)
    files = sorted(path.glob("day=*/*.parquet"))
    if files:
        scan = pl.scan_parquet([str(f) for f in files], hive_partitioning=True)
        requests = conform(scan.drop("day", strict=False)).collect()
    else:
        requests = pl.DataFrame(schema=CANONICAL)
    if requests.height != manifest.get("requests"):
        raise InputError(f"{path}: the store holds {requests.height} requests, its manifest says {manifest.get('requests')}")
    inputs = _inputs(manifest)
    # Back to the order ingest produced: inputs as the operator named them, lines in file order, then a
    # stable sort by time (equal times keep that order).
    order = {r.path: i for i, r in enumerate(inputs)}
    requests = requests.sort(pl.col("source").replace_strict(order, default=len(order), return_dtype=pl.Int32), "line")
    return Ingest(requests=merge_in_time_order([requests]), inputs=inputs)
