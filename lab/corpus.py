"""The recorded corpus: one lab run's access logs, client records and manifest, packed for the tests.

    python -m lab record RUN [--out tests/lab_corpus]

`tests/lab_corpus/corpus.tar.xz` holds `logs/`, `truth.jsonl` and `manifest.json` exactly as the run
wrote them (xz: the logs of one run repeat themselves, so they pack to a few hundred kB). The tests
unpack it and judge logscope against the records with lab.verdicts, as `python -m lab check` does.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

CORPUS = "corpus.tar.xz"
MEMBERS = ("manifest.json", "truth.jsonl", "logs")


def record_corpus(run: Path, out: Path) -> Path:
    manifest = json.loads((run / "manifest.json").read_text())
    if manifest.get("fixed"):
        raise SystemExit("lab: the corpus is a run of the cases as they are, not --fixed")
    out.mkdir(parents=True, exist_ok=True)
    path = out / CORPUS
    with tarfile.open(path, "w:xz", preset=9) as tar:
        for name in MEMBERS:
            tar.add(run / name, arcname=name, filter=_plain)
    return path


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner, mode or time of the machine that recorded it."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def unpack_corpus(corpus: Path, where: Path) -> Path:
    with tarfile.open(corpus / CORPUS if corpus.is_dir() else corpus) as tar:
        tar.extractall(where, filter="data")
    return where
