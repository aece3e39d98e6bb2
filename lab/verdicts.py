"""logscope's verdicts on the lab's logs, set against what each client recorded.

    python -m lab check DIR        # a lab run, or the recorded corpus (tests/lab_corpus)

For every server, case, log layout and client: the outcome logscope gives must be the client's own
(lab.truth), its failure modes must be the ones the client's exchanges show (where the layout logs the
fields a mode needs), its transport must be the client's where logscope names one, and its User-Agent
must be named by the agent rules. Findings about the server's policy (HSTS) are checked per log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from logscope.analysis import Analysis, analyze
from logscope.flows import FlowOptions
from logscope.formats import FormatChoice
from logscope.inventory.networks import default_ranges

from .truth import ClientTruth, client_truths, load_records, server_truth

#: Which canonical fields each layout the lab writes records (what a failure mode may need).
LOGGED = {
    "nginx-combined": set(),
    "nginx-custom": {"scheme", "duration", "location", "hsts", "authorization"},
    "nginx-json": {"scheme", "duration", "location", "hsts", "authorization"},
    "caddy-json": {"scheme", "duration", "location", "hsts", "authorization"},
    "apache-combined": set(),
    "apache-custom": {"scheme", "duration", "location", "hsts", "authorization"},
    # HAProxy's `option httplog` with the User-Agent captured: the scheme from `~`, `%Ta`. Its own redirects'
    # Location is never captured, nor a header its `http-response` rules add (measured), so no HSTS.
    "haproxy-httplog": {"scheme", "duration"},
}
#: The fields a failure mode or finding needs in the log before logscope can be asked for it.
NEEDS = {
    "stream-cut": {"duration"},
    "http-served": {"scheme"},
    "cleartext-credentials": {"authorization", "scheme"},
    "hsts-missing": {"hsts"},
    "hsts-weak": {"hsts"},
    "hsts-over-http": {"hsts", "scheme"},
}
SERVER_LEVEL = ("hsts-missing", "hsts-weak", "hsts-over-http")
#: What the log can show of an exchange whose answer never reached the client (curl's HTTP/2 framing error
#: after Caddy logged a 301): the client's record cannot say whether logscope is wrong.
SEEN_BY_SERVER_ONLY = {"redirect-not-followed"}
NAMED_KINDS = ("mcp-client", "http-library")


@dataclass
class Verdict:
    server: str
    case: str
    layout: str
    client: str
    expected: dict[str, Any]
    got: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # differences the client's record cannot judge

    @property
    def right(self) -> bool:
        return not self.problems


def layout_choice(layout: str, formats: dict[str, Any], base: Path) -> FormatChoice:
    """How an operator would tell logscope the layout: nothing for presets and JSON, the nginx config
    for the custom nginx layout, the LogFormat text for the custom Apache one."""
    spec = formats.get(layout) or {}
    if "nginx_conf" in spec:
        return FormatChoice(nginx_conf=base / spec["nginx_conf"], log_format_name=spec["log_format_name"])
    if "log_format" in spec:
        return FormatChoice(log_format=spec["log_format"])
    return FormatChoice()


@cache
def _ranges() -> pl.DataFrame:
    return default_ranges()


def analyze_log(path: Path, choice: FormatChoice, settings: dict[str, Any]) -> Analysis:
    options = FlowOptions(attempt_gap_s=settings["attempt_gap"], stuck_after=settings["stuck_after"])
    return analyze(path, choice, options, network_ranges=_ranges())


def logs(run: Path, manifest: dict[str, Any]) -> Iterator[tuple[str, str, str, Path]]:
    from .servers import LOG_FORMATS

    for server in manifest["servers"]:
        run_here = manifest.get("server_cases", {}).get(server)  # a server runs the cases it has a template for
        for case in manifest["cases"]:
            if run_here is not None and case["name"] not in run_here:
                continue
            for layout in LOG_FORMATS[server]:
                path = run / "logs" / server / case["name"] / f"{layout}.log"
                yield server, case["name"], layout, path


def expected_modes(truth: ClientTruth, layout: str) -> set[str]:
    modes = {m for m in truth.modes if not m.endswith(" followed") and NEEDS.get(m, set()) <= LOGGED[layout]}
    # A redirect to the other spelling of the path shows without its Location only when it was followed.
    if "trailing-slash-redirect" in modes and "location" not in LOGGED[layout] and "trailing-slash-redirect followed" not in truth.modes:
        modes.discard("trailing-slash-redirect")
    return modes


def judge(run: Path) -> tuple[list[Verdict], list[str]]:
    """Every client verdict, and the problems with server-level findings (one line each)."""
    manifest = json.loads((run / "manifest.json").read_text())
    settings = manifest["settings"]
    auth_cases = {c["name"] for c in manifest["cases"] if c.get("authorization")}
    truths = client_truths(load_records(run / "truth.jsonl"), auth_cases)
    by_case: dict[tuple[str, str], list[ClientTruth]] = {}
    for t in truths:
        by_case.setdefault((t.server, t.case), []).append(t)
    verdicts, server_problems = [], []
    for server, case, layout, path in logs(run, manifest):
        mine = by_case.get((server, case), [])
        if not path.exists() or not mine:
            server_problems.append(f"{server} {case} {layout}: no log or no client records")
            continue
        try:
            analysis = analyze_log(path, layout_choice(layout, manifest.get("formats", {}), run), settings)
        except Exception as e:  # a log logscope cannot read: every verdict on it is wrong, and says why
            for t in mine:
                verdicts.append(Verdict(t.server, t.case, layout, t.client, {}, {}, [f"logscope failed: {type(e).__name__}: {e}"]))
            continue
        clients = analysis.clients.filter(pl.col("outcome") != "not-mcp")
        for t in mine:
            verdicts.append(_client_verdict(t, layout, clients.filter(pl.col("ip") == t.source), settings))
        server_problems += _server_problems(server, case, layout, mine, analysis)
    return verdicts, server_problems


def _client_verdict(t: ClientTruth, layout: str, rows: pl.DataFrame, settings: dict[str, Any]) -> Verdict:
    expected = {"outcome": t.outcome(settings["stuck_after"]), "modes": sorted(expected_modes(t, layout)), "transport": t.transport}
    v = Verdict(t.server, t.case, layout, t.client, expected, {})
    if rows.height == 0:
        v.problems.append(f"logscope has no MCP client at {t.source}")
        return v
    row = rows.row(0, named=True)
    if rows.height > 1:
        # One program that sends two User-Agents (mcp-remote: its discovery as `node`, its MCP requests as
        # `undici`, measured) is two clients to a log, which cannot know they are one. Each must tell what the
        # program saw: the same outcome, and between them the record's failure modes.
        outcomes = set(rows["outcome"])
        if len(outcomes) > 1:
            v.problems.append(f"logscope has {rows.height} MCP clients at {t.source} with outcomes {', '.join(sorted(outcomes))}")
            return v
        v.notes.append(f"{rows.height} clients at {t.source}, one per User-Agent: {', '.join(sorted(rows['user_agent']))}")
        row["failure_modes"] = sorted({m for ms in rows["failure_modes"] for m in ms})
        row["kind"] = next((k for k in rows["kind"] if k not in NAMED_KINDS), row["kind"])
        for field in ("transport", "session"):  # the one that shows it, with its evidence
            known = rows.filter(pl.col(field) != "unknown")
            if known.height:
                row[field], row[f"{field}_evidence"] = known[field][0], known[f"{field}_evidence"][0]
    modes = sorted(set(row["failure_modes"]) - {"reconnect-storm"})  # a rate, not what happened to one attempt
    v.got = {"outcome": row["outcome"], "modes": modes, "transport": row["transport"], "session": row["session"],
             "agent": row["agent"], "kind": row["kind"],
             "user_agent": row["user_agent"], "attempts": row["attempts"], "failed": row["failed_attempts"]}  # fmt: skip
    if row["outcome"] != expected["outcome"] and t.unseen and row["outcome"] == t.outcome(settings["stuck_after"], as_logged=True):
        v.notes.append(
            f"outcome {row['outcome']}: {t.unseen} attempt(s) failed on a 2xx answer the client could not use, which no log shows"
        )
    elif row["outcome"] != expected["outcome"]:
        v.problems.append(f"outcome {row['outcome']}, the client saw {expected['outcome']} ({t.connected}/{t.attempts} connected)")
    missing, extra = set(expected["modes"]) - set(modes), set(modes) - set(expected["modes"])
    if missing:
        v.problems.append(f"failure modes miss {', '.join(sorted(missing))}")
    if extra and t.blind and extra <= SEEN_BY_SERVER_ONLY:
        v.notes.append(f"failure modes add {', '.join(sorted(extra))}: the server answered what the client never received")
    elif extra:
        v.problems.append(f"failure modes add {', '.join(sorted(extra))}")
    if row["transport"] != "unknown" and row["transport"] != t.transport:
        v.problems.append(f"transport {row['transport']} ({row['transport_evidence']}), the client used {t.transport}")
    if t.session and row["session"] not in ("unknown", t.session):
        v.problems.append(f"session {row['session']} ({row['session_evidence']}), the client spoke {t.session}")
    if row["kind"] not in NAMED_KINDS:
        v.problems.append(f"User-Agent {row['user_agent']!r} named {row['agent']!r} ({row['kind']})")
    return v


def _server_problems(server: str, case: str, layout: str, truths: list[ClientTruth], analysis: Analysis) -> list[str]:
    seen = {c for c in server_truth(truths) if NEEDS[c] <= LOGGED[layout]}
    found = {f.code for f in analysis.findings if f.code in SERVER_LEVEL}
    out = []
    if seen - found:
        out.append(f"{server} {case} {layout}: clients saw {', '.join(sorted(seen - found))}; logscope does not say so")
    if found - seen:
        out.append(f"{server} {case} {layout}: logscope says {', '.join(sorted(found - seen))}; no client saw it")
    return out


def fix_problems(run: Path) -> list[str]:
    """For a run with --fixed: each case's fix snippet must let every client connect and remove its finding
    (where the layout logs what the finding needs)."""
    manifest = json.loads((run / "manifest.json").read_text())
    if not manifest.get("fixed"):
        return []
    settings = manifest["settings"]
    truths = client_truths(load_records(run / "truth.jsonl"))
    fixes = {c["name"]: c["fix"] for c in manifest["cases"] if c.get("fix")}
    out = []
    for t in truths:
        if t.case not in fixes or t.outcome(settings["stuck_after"]) == "connected":
            continue
        if t.attempts - t.connected == t.unseen:
            # Every failure was a 2xx the proxy passed on whole, so the fix worked: the backend ended its SSE
            # reply before the message (the Python SDK's race under CPU load, modelcontextprotocol/python-sdk#3494),
            # or the client failed inside after it (the OpenAI Agents SDK 0.24 after a 308, measured).
            continue
        if "redirect-not-followed" in t.modes and fixes[t.case] != "redirect-not-followed":
            # A client that follows no redirect at all (the Vercel AI SDK, measured) needs the https:// URL, which
            # is that finding's fix; judge() checks that logscope reports it.
            continue
        out.append(f"{t.server} {t.case}: with the {fixes[t.case]} fix, {t.client} still fails ({t.errors[-1] if t.errors else ''})")
    for server, case, layout, path in logs(run, manifest):
        code = fixes.get(case)
        if code is None or not path.exists() or not NEEDS.get(code, set()) <= LOGGED[layout]:
            continue
        found = {f.code for f in analyze_log(path, layout_choice(layout, manifest.get("formats", {}), run), settings).findings}
        if code in found:
            out.append(f"{server} {case} {layout}: with the {code} fix applied, logscope still finds {code}")
    return out


def summary(verdicts: list[Verdict], server_problems: list[str]) -> str:
    right = sum(v.right for v in verdicts)
    notes = sum(bool(v.notes) for v in verdicts)
    lines = [f"{right} of {len(verdicts)} client verdicts right ({notes} with a note); {len(server_problems)} other disagreement(s)"]
    for v in verdicts:
        if not v.right:
            lines.append(f"  {v.server:6} {v.case:22} {v.layout:15} {v.client:16} " + "; ".join(v.problems))
    lines += [f"  {p}" for p in server_problems]
    return "\n".join(lines)


#: What `logscope check` cannot see in a few requests: it takes time (a stream held until the proxy cuts it, a
#: storm) or is a client's own reaction to a failure (a token issued and never used; a fallback to the legacy
#: transport after a lost session, as LangChain's adapters do behind replicas, measured).
CHECK_BLIND = {"stream-cut", "reconnect-storm", "auth-abandoned", "legacy-transport-fallback"}
#: A check finding that stands for a client mode: the downgrade's detail names the clients that stop at the
#: redirect; a legacy-only endpoint answers every POST 405.
CHECK_COVERS = {"redirect-method-downgrade": {"redirect-not-followed"}, "legacy-transport-fallback": {"method-not-allowed"}}
#: Findings the check may add that no client of a lab case needs to have met: a risk for clients given another URL
#: (the http:// twin's 301, a redirect the Vercel AI SDK does not follow, a legacy-only endpoint).
CHECK_LATENT = {"unsafe-post-redirect", "redirect-not-followed", "legacy-transport-fallback"}


def check_problems(run: Path) -> tuple[list[str], list[str]]:
    """`logscope check` against each case, as the lab ran it: it names what the case's clients' records show, and
    nothing else but latent risks (returned as notes). With --fixed, the fixed finding is gone."""
    from .checks import load_checks

    manifest = json.loads((run / "manifest.json").read_text())
    auth_cases = {c["name"] for c in manifest["cases"] if c.get("authorization")}
    fixes = {c["name"]: c["fix"] for c in manifest["cases"] if c.get("fix")}
    truths = client_truths(load_records(run / "truth.jsonl"), auth_cases)
    checks = load_checks(run)
    problems, notes = [], []
    for (server, case), document in sorted(checks.items()):
        mine = [t for t in truths if (t.server, t.case) == (server, case)]
        target = document["targets"][0]
        if target["error"]:
            problems.append(f"{server} {case}: check could not run: {target['error']}")
            continue
        found = {f["code"] for f in target["findings"]}
        seen = {m for t in mine for m in t.modes if not m.endswith(" followed")} | server_truth(mine)
        seen -= CHECK_BLIND
        if mine and all(_initialize_refused(t) for t in mine):
            seen.add("initialize-refused")
        for code, covered in CHECK_COVERS.items():
            if code in found:
                seen -= covered
        if manifest.get("fixed") and case in fixes and fixes[case] in found:
            problems.append(f"{server} {case}: with the {fixes[case]} fix applied, check still finds it")
        if seen - found:
            problems.append(f"{server} {case}: clients saw {', '.join(sorted(seen - found))}; check does not say so")
        extra = found - seen
        if extra - CHECK_LATENT:
            problems.append(f"{server} {case}: check says {', '.join(sorted(extra - CHECK_LATENT))}; no client saw it")
        if extra & CHECK_LATENT:
            notes.append(f"{server} {case}: check adds {', '.join(sorted(extra & CHECK_LATENT))} (a risk no client of the case met)")
    if not checks:
        problems.append("the run has no check results (lab/checks.py)")
    return problems, notes


def _initialize_refused(t: ClientTruth) -> bool:
    """The client never connected and the server answered its first request of each attempt 400 (the check's
    initialize-refused, which no log-side code names)."""
    firsts = [next((h for h in hops if h["method"] == "POST"), None) for hops in t.hops]
    return t.connected == 0 and bool(firsts) and all(h is not None and h["status"] == 400 for h in firsts)
