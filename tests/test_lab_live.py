"""The lab, live: real nginx, Caddy, Apache and HAProxy, the official MCP SDK servers and every client, run now on
this machine in the fast profile (a 5 s attempt gap, given to logscope too), once as the cases are and
once with logscope's fix snippets pasted in (`python -m lab run --fast [--fixed]`).

It needs root (ports 80 and 443 on loopback addresses), Debian's nginx, caddy, apache2 and haproxy, Node.js with
lab/node's packages (`npm ci --prefix lab/node`), the JDK and curl. `.ci/run` installs them and sets
LOGSCOPE_LAB=1, under which anything missing fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lab.run import FAST, NODE, run_lab
from lab.verdicts import check_problems, fix_problems, judge, summary

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

PROGRAMS = ("nginx", "caddy", "apache2", "haproxy", "node", "java", "javac", "keytool", "curl", "openssl")


def _missing() -> list[str]:
    found = [p for p in PROGRAMS if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]
    if not (NODE / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
        found.append("lab/node/node_modules (npm ci --prefix lab/node)")
    if os.geteuid() != 0:
        found.append("root (ports 80 and 443)")
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    missing = _missing()
    if missing:
        message = f"the live lab needs {', '.join(missing)}"
        if os.environ.get("LOGSCOPE_LAB") == "1":
            pytest.fail(message)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("lab")
    out = {}
    for name, fixed in (("cases", False), ("fixed", True)):
        out[name] = (base / name, run_lab(base / name, FAST, fixed=fixed))
    return out


def test_live_verdicts_match_what_each_client_saw(runs: dict[str, tuple[Path, dict]]) -> None:
    verdicts, others = judge(runs["cases"][0])
    assert len(verdicts) > 800
    assert all(v.right for v in verdicts) and not others, summary(verdicts, others)


def test_fix_snippets_make_the_clients_connect_and_the_finding_go(runs: dict[str, tuple[Path, dict]]) -> None:
    """Each case's fix, pasted from logscope/data/fixes.toml: every client connects, the finding is gone,
    and logscope's verdicts still match the clients on the fixed servers."""
    run, manifest = runs["fixed"]
    assert manifest["fixed"] and sum(bool(c["fix"]) for c in manifest["cases"]) >= 10
    problems = fix_problems(run)
    assert not problems, "\n".join(problems)
    verdicts, others = judge(run)
    assert all(v.right for v in verdicts) and not others, summary(verdicts, others)


def test_check_names_what_the_clients_saw_and_nothing_after_the_fix(runs: dict[str, tuple[Path, dict]]) -> None:
    """`logscope check`, run against each case after its clients (lab/checks.py): its findings are the ones the
    clients' records show, on every server; with the fix snippets pasted in, the fixed finding is gone."""
    for name in ("cases", "fixed"):
        run, manifest = runs[name]
        checked = list((run / "check").glob("*/*.json"))
        assert len(checked) == sum(len(cases) for cases in manifest["server_cases"].values())
        problems, _notes = check_problems(run)
        assert not problems, f"{name}:\n" + "\n".join(problems)


def test_the_lab_stopped_every_process_it_started(runs: dict[str, tuple[Path, dict]]) -> None:
    for _, manifest in runs.values():
        assert len(manifest["processes"]) >= 10
        for name, pid in manifest["processes"]:
            assert not Path(f"/proc/{pid}").exists() or _zombie_or_other(pid, name), f"{name} ({pid}) still runs"


def _zombie_or_other(pid: int, name: str) -> bool:
    """A process id can be reused by another program once ours exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" in status or f"PPid:\t{os.getpid()}" not in status
