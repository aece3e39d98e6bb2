"""logscope against the recorded lab corpus: real nginx, Caddy, Apache and HAProxy in front of the official MCP
SDK servers, real clients, and each client's own record of what happened (lab/, docs/lab.md).

The record is the truth. For every server, case, log layout and client, logscope's outcome must be the
client's, its failure modes must be what the client's exchanges show, its transport must be the client's
where it names one, and the client's User-Agent must be named; HSTS findings must match what the
clients were sent. A disagreement is fixed in logscope (or the spec's wording), never in the record.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from lab.corpus import unpack_corpus
from lab.run import load_cases
from lab.truth import ClientTruth, client_truths, load_records
from lab.verdicts import judge, layout_choice, summary

from .conftest import ROOT

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

CORPUS = ROOT / "tests" / "lab_corpus"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack_corpus(CORPUS, tmp_path_factory.mktemp("lab-corpus"))


@pytest.fixture(scope="module")
def manifest(corpus: Path) -> dict:
    return json.loads((corpus / "manifest.json").read_text())


@pytest.fixture(scope="module")
def truths(corpus: Path, manifest: dict) -> list[ClientTruth]:
    return client_truths(load_records(corpus / "truth.jsonl"), {c["name"] for c in manifest["cases"] if c.get("authorization")})


def truth(truths: list[ClientTruth], server: str, case: str, client: str) -> ClientTruth:
    return next(t for t in truths if (t.server, t.case, t.client) == (server, case, client))


def ran(manifest: dict, server: str) -> list[str]:
    """The cases a server ran: those it has a configuration for (HAProxy: the redirect, replica, slash and HSTS ones)."""
    return manifest.get("server_cases", {}).get(server) or [c["name"] for c in manifest["cases"]]


def test_the_corpus_is_one_whole_lab_run(manifest: dict, truths: list[ClientTruth]) -> None:
    """Every server, case and client of the lab ran, with the versions recorded (HAProxy's wave recorded apart, in
    the same profile, and added: `python -m lab record RUN --add`)."""
    from lab.servers import has_case

    assert manifest["servers"] == ["nginx", "caddy", "apache", "haproxy"] and not manifest["fixed"]
    assert {c["name"] for c in manifest["cases"]} == {c.name for c in load_cases()}
    for key in ("nginx", "caddy", "apache", "haproxy", "python mcp", "npm @modelcontextprotocol/sdk", "java", "curl"):
        assert manifest["versions"][key] not in ("", "not found")
    for server in manifest["servers"]:
        assert ran(manifest, server) == [c.name for c in load_cases() if has_case(server, c.template)]
    assert {"http-301", "http-302", "http-308", "replicas", "slash-redirect", "hsts-missing", "hsts-weak"} <= set(ran(manifest, "haproxy"))
    planned = {
        (s, c["name"], cl) for s in manifest["servers"] for c in manifest["cases"] for cl in c["clients"] if c["name"] in ran(manifest, s)
    }
    assert {(t.server, t.case, t.client) for t in truths} == planned
    assert all(t.attempts == manifest["settings"]["attempts"] for t in truths)


def test_every_client_verdict_matches_what_the_client_saw(corpus: Path) -> None:
    """The lab's judgement, as `python -m lab check tests/lab_corpus` prints it: no disagreement."""
    verdicts, others = judge(corpus)
    assert len(verdicts) > 800
    assert all(v.right for v in verdicts) and not others, summary(verdicts, others)


def test_the_record_shows_the_failures_each_case_was_built_for(truths: list[ClientTruth], manifest: dict) -> None:
    """Facts of the clients' own records (not of logscope): they pin the lab's reading of the exchanges, so a
    change to lab/truth.py that stops seeing them fails here."""
    stuck_after = manifest["settings"]["stuck_after"]
    for server in manifest["servers"]:
        # The seed's loop: the hand-written clients follow a 301 as a body-less GET; the SDKs do not follow it.
        for client in ("python-requests", "python-httpx", "python-aiohttp", "node-fetch", "java-httpclient", "curl"):
            t = truth(truths, server, "http-301", client)
            assert t.outcome(stuck_after) == "stuck" and "redirect-method-downgrade" in t.modes
        for client in ("python-sdk", "ts-sdk"):
            t = truth(truths, server, "http-301", client)
            assert t.outcome(stuck_after) == "stuck" and t.modes >= {"redirect-not-followed"} and t.transport == "http-only"
        # 308 keeps every client's POST, but for two programs (measured, issue 25): the Vercel AI SDK follows no
        # redirect at all, and the OpenAI Agents SDK follows it, gets 200, and fails inside the client.
        moved = [c for c in case_clients(manifest, "http-308") if any(t.client == c and t.server == server for t in truths)]
        follow = [c for c in moved if c not in ("ai-sdk", "openai-agents")]
        assert all(truth(truths, server, "http-308", c).outcome(stuck_after) == "connected" for c in follow)
        if "ai-sdk" in moved:
            t = truth(truths, server, "http-308", "ai-sdk")
            assert t.outcome(stuck_after) == "stuck" and "redirect-not-followed" in t.modes
        if "openai-agents" in moved:
            t = truth(truths, server, "http-308", "openai-agents")
            assert t.connected < t.attempts and t.attempts - t.connected == t.unseen  # every failure on a 2xx no log can show
        # Replicas without sticky sessions: the stateless programs connect, the session ones do not.
        for t in (t for t in truths if (t.server, t.case) == (server, "replicas") and t.session):
            assert (t.outcome(stuck_after) == "connected") == (t.session == "stateless"), (t.client, t.session)
        assert "session-lost" in truth(truths, server, "replicas", "python-requests").modes
        if server == "haproxy":  # the cases HAProxy has no configuration for
            continue
        assert "forbidden" in truth(truths, server, "host-check-ts", "curl").modes
        assert "auth-loop" in truth(truths, server, "oauth", "python-sdk").modes
        assert "legacy-transport-fallback" in truth(truths, server, "legacy-fallback", "ts-sdk-fallback").modes
        assert truth(truths, server, "legacy-fallback", "ts-sdk-fallback").outcome(stuck_after) == "connected"
        assert "stream-cut" in truth(truths, server, "stream-cut", "ts-sdk").modes


def case_clients(manifest: dict, case: str) -> list[str]:
    return next(c["clients"] for c in manifest["cases"] if c["name"] == case)


def test_every_user_agent_the_lab_produced_is_named(corpus: Path, manifest: dict) -> None:
    """The agent rules name each client library's User-Agent (python-httpx2, node, Java-http-client, …)."""
    from logscope.inventory.agents import classify_user_agents

    agents: Counter[str] = Counter()
    for log in (corpus / "logs" / "nginx").glob("*/nginx-json.log"):
        for line in log.read_text().splitlines():
            ua = json.loads(line)["http_user_agent"]
            agents[ua] += 1
    named = classify_user_agents(pl.Series([ua for ua in agents if ua], dtype=pl.String))
    unnamed = named.filter(~pl.col("kind").is_in(["mcp-client", "http-library"]))
    assert unnamed.height == 0, unnamed
    expected = {"python-httpx2", "node", "python-requests", "python-httpx", "aiohttp", "Java-http-client", "curl"}
    assert expected <= set(named["agent"].to_list())


def test_the_custom_layouts_are_given_as_an_operator_would(corpus: Path, manifest: dict) -> None:
    """nginx's custom layout through --nginx-conf (its log_format directives), Apache's as LogFormat text."""
    nginx = layout_choice("nginx-custom", manifest["formats"], corpus)
    assert nginx.nginx_conf is not None and nginx.nginx_conf.exists() and nginx.log_format_name == "lab_custom"
    apache = layout_choice("apache-custom", manifest["formats"], corpus)
    assert apache.log_format is not None and "%{has_authorization}e" in apache.log_format


def test_docs_clients_md_is_what_the_corpus_measured(corpus: Path) -> None:
    """docs/clients.md is generated from this corpus; regenerate it when the corpus changes."""
    from lab.clientsdoc import clients_doc

    assert (ROOT / "docs" / "clients.md").read_text() == clients_doc(corpus)


def test_the_clients_check_names_are_what_the_corpus_measured(corpus: Path) -> None:
    """logscope/data/clients.toml (what `logscope check` says of a redirect, per client) comes from this corpus."""
    from lab.clientsdoc import clients_data

    assert (ROOT / "logscope" / "data" / "clients.toml").read_text() == clients_data(corpus)


@pytest.mark.parametrize(("layout", "evidence"), [("caddy-json", "logged"), ("nginx-combined", "inferred")])
def test_stateless_and_session_clients_are_told_apart(
    corpus: Path, manifest: dict, truths: list[ClientTruth], layout: str, evidence: str
) -> None:
    """The Python SDK speaks MCP 2026-07-28 to its own server (server/discover, no session: its record shows no
    GET stream, no DELETE), and so do the programs whose records show `Mcp-Method: server/discover` and no
    `Mcp-Session-Id`; the others keep a session. Caddy logs the MCP headers; from nginx's combined log the
    session's traces (a notification answered 202, a stream, a DELETE) say it. In the replicas case the
    session-lost finding counts the stateless clients that connected through it as unaffected."""
    from lab.verdicts import analyze_log

    server = layout.split("-")[0]
    sources = manifest["clients"][server]["healthy"]
    clients = analyze_log(
        corpus / "logs" / server / "healthy" / f"{layout}.log", layout_choice(layout, {}, corpus), manifest["settings"]
    ).clients
    session = {r["ip"]: (r["session"], r["session_evidence"]) for r in clients.filter(pl.col("session") != "unknown").iter_rows(named=True)}
    assert session[sources["python-sdk"]] == ("stateless", evidence)
    for client in ("ts-sdk", "node-fetch", "python-requests", "python-httpx", "python-aiohttp", "curl"):
        assert session[sources[client]] == ("session", evidence), client
    recorded = [t for t in truths if (t.server, t.case) == (server, "healthy") and t.session]
    for t in recorded:  # the programs, whose records hold the MCP headers they sent
        assert session[t.source] == (t.session, evidence), t.client
    replicas = analyze_log(corpus / "logs" / server / "replicas" / f"{layout}.log", layout_choice(layout, {}, corpus), manifest["settings"])
    unaffected = 1 + sum(  # the Python SDK, and the stateless programs that connected on every attempt
        t.session == "stateless" and t.connected == t.attempts for t in truths if (t.server, t.case) == (server, "replicas")
    )
    lost = next(f for f in replicas.findings if f.code == "session-lost")
    assert f"Stateless clients (MCP 2026-07-28, no Mcp-Session-Id) are unaffected: {unaffected} of them connected" in lost.detail


def test_no_client_of_a_program_that_connected_is_reported_stuck_or_failing(
    corpus: Path, manifest: dict, truths: list[ClientTruth]
) -> None:
    """Every User-Agent a program used at its address (mcp-remote connects as `undici` after probing as `node`):
    where the program connected on every attempt, none of them is stuck or failing, in any layout."""
    from lab.verdicts import analyze_log, logs

    connected = {(t.server, t.case, t.source) for t in truths if t.attempts and t.connected == t.attempts}
    checked = 0
    for server, case, layout, path in logs(corpus, manifest):
        if not path.exists():
            continue
        clients = analyze_log(path, layout_choice(layout, manifest.get("formats", {}), corpus), manifest["settings"]).clients
        bad = clients.filter(pl.col("outcome").is_in(["stuck", "failing"]))
        for row in bad.iter_rows(named=True):
            assert (server, case, row["ip"]) not in connected, (server, case, layout, row["user_agent"], row["outcome"])
        here = [ip for (s, c, ip) in connected if (s, c) == (server, case)]
        checked += clients.filter(pl.col("ip").is_in(here)).height
    assert checked >= len(connected) > 0  # each such client seen in at least one layout
