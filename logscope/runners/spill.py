"""Where a sharded analysis puts its shards while it reads them: a local directory (by default the system's
temporary one), or a URL every worker reaches (`--spill-dir s3://bucket/prefix`, gs://, … through fsspec).

Polars writes and reads the Parquet files under a URL itself; fsspec only lists and removes them. A
location is a string either way, so the plan's steps (logscope.shards) send workers the same values.
"""

from __future__ import annotations

import contextlib
import glob as globbing
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path

from ..errors import InputError
from .sources import URL


def is_url(location: str | Path) -> bool:
    """A location fsspec reaches (file:// is a local path)."""
    text = str(location)
    return bool(URL.match(text)) and not text.startswith("file://")


def check_spill_dir(location: str | None) -> None:
    """--spill-dir: a URL is taken as given (its store says what is wrong when written); a local one must exist."""
    from ..errors import LogscopeError

    if location is not None and not is_url(location) and not Path(local(location)).is_dir():
        raise LogscopeError(f"--spill-dir {location}: not a directory")


def local(location: str | Path) -> str:
    return str(location)[len("file://") :] if str(location).startswith("file://") else str(location)


def _fs(url: str) -> object:
    try:
        import fsspec
    except ImportError:
        raise InputError(f"{url}: a URL as --spill-dir needs fsspec: pip install 'logscope[cluster]'") from None
    try:
        return fsspec.core.url_to_fs(url)[0]
    except (ImportError, ValueError) as exc:  # an unknown protocol, or its package missing (s3fs, gcsfs)
        raise InputError(f"{url}: cannot write shards there ({exc})") from None


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def makedirs(path: str) -> None:
    if is_url(path):
        _fs(path).makedirs(path, exist_ok=True)  # type: ignore[attr-defined]
    else:
        Path(path).mkdir(parents=True, exist_ok=True)


def matching(pattern: str) -> list[str]:
    """The files a glob pattern matches, sorted (part files are numbered in the order to read them)."""
    if not is_url(pattern):
        return sorted(globbing.glob(pattern))
    fs = _fs(pattern)
    return sorted(fs.unstrip_protocol(p) for p in fs.glob(pattern))  # type: ignore[attr-defined]


def remove(path: str) -> None:
    """A directory and what is in it, if it is there."""
    if not is_url(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    with contextlib.suppress(FileNotFoundError):
        _fs(path).rm(path, recursive=True)  # type: ignore[attr-defined]


class Spill:
    """A fresh directory for one run's shards under `under` (a local directory, a URL, or None for the
    system's temporary directory), removed when the run is done with (`cleanup`, or garbage collection)."""

    def __init__(self, under: str | Path | None = None) -> None:
        if under is not None and is_url(under):
            self.name = join(str(under), f"logscope-shards-{uuid.uuid4().hex[:12]}")
            _fs(self.name)  # a clear error now, not in a worker
            self._finalizer = weakref.finalize(self, remove, self.name)
        else:
            temporary = tempfile.TemporaryDirectory(prefix="logscope-shards-", dir=local(under) if under is not None else None)
            self.name = temporary.name
            self._finalizer = weakref.finalize(self, temporary.cleanup)

    def cleanup(self) -> None:
        self._finalizer()
