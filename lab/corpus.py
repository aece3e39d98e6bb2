"""The recorded corpus: one lab run's access logs, client records and manifest, packed for the tests.

    python -m lab record RUN [--out tests/lab_corpus]
    python -m lab record RUN --add [--out tests/lab_corpus]   # add a run of other servers to the corpus

`tests/lab_corpus/corpus.tar.xz` holds `logs/`, `truth.jsonl` and `manifest.json` exactly as the run
wrote them (xz: the logs of one run repeat themselves, so they pack to a few hundred kB). The tests
unpack it and judge logscope against the records with lab.verdicts, as `python -m lab check` does.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
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


def add_to_corpus(run: Path, out: Path) -> Path:
    """Add a run of servers the corpus does not hold yet (a server added to the lab) to it: the same profile,
    cases and clients, recorded apart. The manifest keeps each part's versions and how long it took."""
    new = json.loads((run / "manifest.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        base = unpack_corpus(out, Path(tmp) / "corpus")
        old = json.loads((base / "manifest.json").read_text())
        if new.get("fixed") or new["settings"] != old["settings"]:
            raise SystemExit("lab: only a run of the cases as they are, in the corpus's own profile, can be added")
        if [c["name"] for c in new["cases"]] != [c["name"] for c in old["cases"]]:
            raise SystemExit("lab: the run's cases are not the corpus's")
        overlap = set(new["servers"]) & set(old["servers"])
        if overlap:
            raise SystemExit(f"lab: the corpus already holds {', '.join(sorted(overlap))}")
        for server in new["servers"]:
            shutil.copytree(run / "logs" / server, base / "logs" / server)
        with (base / "truth.jsonl").open("a") as truth:
            truth.write((run / "truth.jsonl").read_text())
        everything = {s: [c["name"] for c in old["cases"]] for s in old["servers"]}
        merged = {
            **old,
            "servers": old["servers"] + new["servers"],
            "server_cases": {**old.get("server_cases", everything), **new["server_cases"]},
            "clients": {**old["clients"], **new["clients"]},
            "versions": {**old["versions"], **{k: v for k, v in new["versions"].items() if k not in old["versions"]}},
            "formats": {**old.get("formats", {}), **new.get("formats", {})},
            "parts": [*old.get("parts", [{"servers": old["servers"], "seconds": old["seconds"]}]),
                      {"servers": new["servers"], "seconds": new["seconds"], "versions": new["versions"]}],
        }  # fmt: skip
        (base / "manifest.json").write_text(json.dumps(merged, indent=1))
        path = out / CORPUS
        with tarfile.open(path, "w:xz", preset=9) as tar:
            for name in MEMBERS:
                tar.add(base / name, arcname=name, filter=_plain)
    return path
