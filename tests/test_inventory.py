"""The client inventory: agents named from User-Agents, clients grouped into architectures."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from logscope.analysis import analyze
from logscope.inventory import agents
from logscope.inventory.agents import KINDS, agent_rules, classify, classify_user_agents

from .conftest import SAMPLES, SHARED

# Every User-Agent of the knowledge file's table (section 4), with what it must be called.
KNOWN = {
    "node": ("node", None, "http-library"),
    "undici": ("undici", None, "http-library"),
    "Bun/1.1.45": ("Bun", "1.1.45", "http-library"),
    "python-httpx/0.28.1": ("python-httpx", "0.28.1", "http-library"),
    "python-httpx2/2.0.1": ("python-httpx2", "2.0.1", "http-library"),
    "python-requests/2.32.3": ("python-requests", "2.32.3", "http-library"),
    "Go-http-client/1.1": ("Go-http-client", "1.1", "http-library"),
    "Go-http-client/2.0": ("Go-http-client", "2.0", "http-library"),
    "Java-http-client/21.0.2": ("Java-http-client", "21.0.2", "http-library"),
    "claude-code/2.1.204 (cli)": ("claude-code", "2.1.204", "mcp-client"),
    "claude-code/2.1.204 (sdk-cli)": ("claude-code", "2.1.204", "mcp-client"),
    "claude-code/2.1.204 (sdk-ts, agent-sdk/0.2.1)": ("claude-code", "2.1.204", "mcp-client"),
    "claude-code/2.1.204 (claude-vscode, agent-sdk/0.2.1)": ("claude-code-vscode", "2.1.204", "mcp-client"),
    "claude-code/2.1.246 (claude-desktop, agent-sdk/0.3.246)": ("claude-desktop", "2.1.246", "mcp-client"),
    "Claude-User": ("Claude-User", None, "mcp-client"),
    "openai-mcp/1.0.0": ("openai-mcp", "1.0.0", "mcp-client"),
    "openai-mcp/1.0.0 (Codex)": ("openai-mcp-codex", "1.0.0", "mcp-client"),
    "codex-mcp-client/0.46.0": ("codex-mcp-client", "0.46.0", "mcp-client"),
    "codex_cli_rs/0.46.0": ("codex_cli_rs", "0.46.0", "mcp-client"),
    "Visual Studio Code/1.105.1": ("Visual Studio Code", "1.105.1", "mcp-client"),
    "Cursor/1.7.2": ("Cursor", "1.7.2", "mcp-client"),
    "grok-connectors-manager/0.1.0": ("grok-connectors-manager", "0.1.0", "mcp-client"),
    "Slack-MCP-Client/1.0": ("Slack-MCP-Client", "1.0", "mcp-client"),
    "MicrosoftCopilotStudio-AgenticLoop/1.0": ("MicrosoftCopilotStudio", "1.0", "mcp-client"),
    "MCP-Client/1.0": ("MCP-Client", "1.0", "mcp-client"),
    "ke/JS 0.64.2": ("ke/JS", "0.64.2", "http-library"),
    "curl/8.5.0": ("curl", "8.5.0", "http-library"),
    # Measured in the lab (issue 25): the Vercel AI SDK names itself; the other programs send their runtime's.
    "ai-sdk/2.0.99 node.js/v20.20.2": ("ai-sdk", "2.0.99", "mcp-client"),
    "python-httpx2/2.17.0": ("python-httpx2", "2.17.0", "http-library"),
}


@pytest.mark.parametrize("ua", sorted(KNOWN))
def test_known_user_agents(ua: str) -> None:
    assert classify(ua) == KNOWN[ua]


def test_every_knowledge_file_user_agent_is_covered() -> None:
    table = (SHARED / "knowledge" / "mcp-client-traffic.md").read_text().split("## 4.")[1].split("## 5.")[0]
    # Quoted strings in the table, less fragments such as `(sdk-cli)` or the `/2.0` of "Go-http-client/1.1 or /2.0".
    quoted = {q for q in re.findall(r"`([^`]+)`", table) if not q.startswith(("(", "/"))}
    assert len(quoted) >= 20
    for q in quoted:
        if "<" in q:  # a pattern such as `python-httpx2/<ver>`: try it with a version
            q = q.replace("<ver>", "1.2.3").replace("<java version>", "21").replace("<version>", "1.2.3")
        agent, _, kind = classify(q)
        assert agent is not None and kind in KINDS and kind != "unknown", q


def test_browsers_crawlers_scanners_and_missing() -> None:
    assert classify(None) == (None, None, "unknown") and classify("") == (None, None, "unknown")
    assert classify("Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0")[::2] == ("Firefox", "browser")
    assert classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")[::2] == ("Googlebot", "crawler")
    assert classify("Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)")[::2] == ("CensysInspect", "scanner")
    assert classify("SomeTool/3.1 (+https://example.org)") == ("SomeTool", "3.1", "unknown")


def test_rules_are_data_and_valid() -> None:
    rules = agent_rules()
    assert len(rules) >= 40 and all(r.kind in KINDS for r in rules)


def test_each_distinct_user_agent_classified_once() -> None:
    series = pl.Series(["node", "node", None, "MCP-Client/1.0", None])
    table = classify_user_agents(series)
    assert table.height == 3 and table.filter(pl.col("user_agent").is_null())["agent"].to_list() == [None]


def test_rules_over_all_user_agents_at_once_name_each_as_one_at_a_time() -> None:
    """The rules run as Polars expressions (Rust regex) over every distinct User-Agent; they must name
    each one as Python's re does, one at a time, including what uap-core names."""
    uas = [*KNOWN, *(line.rsplit('"', 2)[-2] for line in (SAMPLES / "mcp-seed.access.log").read_text("utf-8").splitlines())]
    table = classify_user_agents(pl.Series(uas, dtype=pl.String))
    assert table.height == len({u for u in uas})
    for ua, *named in table.iter_rows():
        assert tuple(named) == classify(ua), ua


def test_the_long_tail_of_user_agents_gets_the_cheap_rule(monkeypatch) -> None:
    """Beyond MAX_PARSED distinct User-Agents left by the rules, the least common get the cheap rule
    (a bot's name, or the first product token) instead of uap-core; the rules still name every MCP client."""
    monkeypatch.setattr(agents, "MAX_PARSED", 2)
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36"
    uas = [chrome.format(140), chrome.format(141), chrome.format(142), "Mozilla/5.0 (compatible; FarmBot/7.0)", "claude-code/2.1.2 (cli)"]
    table = classify_user_agents(pl.Series(uas), weights=pl.Series([50, 40, 1, 1, 1]))
    named = {ua: (agent, kind) for ua, agent, _, kind in table.iter_rows()}
    assert named[uas[0]] == ("Chrome", "browser") and named[uas[1]] == ("Chrome", "browser")
    assert named[uas[2]] == ("Mozilla", "unknown")  # the cheap rule: its first product token
    assert named[uas[3]] == ("FarmBot", "crawler")
    assert named[uas[4]] == ("claude-code", "mcp-client")


def test_sample_architectures(tmp_path: Path) -> None:
    analysis = analyze(SAMPLES / "mcp-seed.access.log")
    arch = analysis.architectures.filter(pl.col("mcp"))
    # The Workers fleet: 40 addresses, no User-Agent, one behaviour, one architecture.
    fleet = arch.filter(pl.col("agent").is_null() & (pl.col("ips") == 40))
    assert fleet.height == 1 and fleet["connected"].item() == 40
    # The Azure SDK's three variants (plain, SSE, DELETE teardown) stay apart.
    httpx = arch.filter(pl.col("agent") == "python-httpx")
    assert set(zip(httpx["mcp_transport"], httpx["teardown"], strict=True)) == {
        ("streamable-http", False),
        ("legacy-sse", False),
        ("streamable-http", True),
    }
    stuck = arch.filter(pl.col("stuck") > 0)
    assert stuck.height == 2 and set(stuck["transport"]) == {"starts-http"}
    assert arch.row(0, named=True)["stuck"] == 1  # failing architectures come first
    labels = dict(zip(arch["agent"].fill_null("-"), arch["label"], strict=False))
    assert labels["MCP-Client"].startswith("MCP-Client ") and "starts on HTTP" in labels["MCP-Client"]
    clients = analysis.clients.filter(pl.col("agent") == "MCP-Client")
    assert clients["agent_version"].to_list() == ["1.0"] and clients["kind"].to_list() == ["mcp-client"]
    assert clients["architecture"].item() in set(arch["architecture"])


def test_a_library_user_agent_names_the_library_a_program_used_never_the_program() -> None:
    from logscope.inventory.architectures import label

    assert label("node", "http-library", "AWS", "https-only", "streamable-http", False) == (
        "a program using node on AWS, HTTPS only, Streamable HTTP"
    )
    assert label("ai-sdk", "mcp-client", None, "https-only", "streamable-http", False).startswith("ai-sdk on an unnamed network")
    assert label(None, None, None, "unknown", "unknown", False).startswith("no User-Agent")
