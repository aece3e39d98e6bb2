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
from pathlib import Path

import polars as pl

from .errors import InputError
from .formats import FormatChoice
from .ingest import Ingest, InputReport, ProgressHook, parse_inputs
from .ingest.stores import MANIFEST, NULL_DAY, STORE_VERSION, is_store
from .sources import BLOCK_BYTES


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
