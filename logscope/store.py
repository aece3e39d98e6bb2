"""Converted logs: the canonical frame as Parquet, partitioned by day, so repeated analyses skip parsing.

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
from pathlib import Path

import polars as pl

from .errors import InputError
from .formats import FormatChoice
from .ingest import Ingest, InputReport, ProgressHook, RejectedLine, input_position, merge_in_time_order, parse_inputs
from .schema import CANONICAL, conform
from .sources import BLOCK_BYTES

MANIFEST = "logscope-inputs.json"
NULL_DAY = "__HIVE_DEFAULT_PARTITION__"  # requests without a time (how Polars names a null partition)
STORE_VERSION = 1


def is_store(path: Path) -> bool:
    try:
        return path.is_dir() and (path / MANIFEST).is_file()
    except OSError:  # e.g. a parent directory the user may not enter: the input check says so in one line
        return False


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out must be a directory")
    if out.exists() and any(out.iterdir()) and not is_store(out):
        raise InputError(f"{out}: directory exists and is not a logscope store; choose an empty or new one")


def _write_manifest(out: Path, requests: int, inputs: list[InputReport]) -> None:
    manifest = {"version": STORE_VERSION, "requests": requests, "inputs": [asdict(r) for r in inputs]}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")


@dataclass
class _StoreWriter:
    """Requests written block by block into day folders of a staging directory inside the store; the
    store's old files are replaced by them in `commit`, once everything was written."""

    out: Path
    staging: Path
    requests: int = 0
    files: int = 0

    def keep(self, block: pl.DataFrame) -> None:
        days = block.with_columns(pl.col("ts").dt.date().alias("_day")).partition_by("_day", as_dict=True, include_key=False)
        for (day,), part in days.items():
            folder = self.staging / f"day={day if day is not None else NULL_DAY}"
            folder.mkdir(exist_ok=True)
            part.write_parquet(folder / f"part-{self.files:06d}.parquet")
            self.files += 1
        self.requests += block.height

    def commit(self, inputs: list[InputReport]) -> None:
        for old in self.out.glob("day=*/*.parquet"):
            old.unlink()
        for folder in self.staging.iterdir():
            target = self.out / folder.name
            target.mkdir(exist_ok=True)
            for f in folder.iterdir():
                f.rename(target / f.name)
        _write_manifest(self.out, self.requests, inputs)


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
    specs: Sequence[str], out: Path, choice: FormatChoice | None = None, *, naive_tz: str = "UTC", progress: ProgressHook | None = None
) -> tuple[int, list[InputReport]]:
    """Parse logs straight into a store, block by block (memory holds a few blocks, whatever the size of
    the logs): the requests written and the inputs' reports. The store is replaced only when every
    input was read; a failed conversion leaves the directory as it was."""
    with _writing(out) as store:
        inputs = parse_inputs(list(specs), choice, naive_tz=naive_tz, block_bytes=BLOCK_BYTES, progress=progress, keep=store.keep)
        store.commit(inputs)
    return store.requests, inputs


def stored_requests(path: Path) -> int:
    """How many requests a store holds, from its manifest (0 when it cannot be read: reading it says why)."""
    try:
        return int(_manifest(path).get("requests", 0))
    except (InputError, ValueError, TypeError, AttributeError):
        return 0


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
    files = sorted(path.glob("day=*/*.parquet"))
    if not files:
        return None
    return pl.concat([pl.scan_parquet(f, hive_partitioning=False) for f in files], how="diagonal_relaxed").drop("day", strict=False)


def store_batches(path: Path, rows: int) -> Iterator[pl.DataFrame]:
    """A store's requests, canonical, in batches of at most `rows` (for reading it in shards)."""
    import pyarrow.parquet as pq

    for f in sorted(path.glob("day=*/*.parquet")):
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
