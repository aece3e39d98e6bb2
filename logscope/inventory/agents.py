"""Name the client software behind each distinct User-Agent, once per distinct value, joined back."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import polars as pl
import user_agents

KINDS = ("mcp-client", "http-library", "browser", "crawler", "scanner", "unknown")
AGENT_SCHEMA = {"user_agent": pl.String, "agent": pl.String, "agent_version": pl.String, "kind": pl.String}
_PRODUCT = re.compile(r"^\s*([^/(;]*[^/(;\s])(?:/([^\s;(]+))?")


@dataclass(frozen=True)
class AgentRule:
    agent: str
    kind: str
    pattern: re.Pattern[str]


@cache
def agent_rules() -> tuple[AgentRule, ...]:
    data = tomllib.loads(resources.files("logscope.data").joinpath("agents.toml").read_text("utf-8"))
    rules = []
    for rule in data["rule"]:
        if rule["kind"] not in KINDS:
            raise ValueError(f"agents.toml: {rule['agent']}: unknown kind {rule['kind']!r}")
        rules.append(AgentRule(rule["agent"], rule["kind"], re.compile(rule["pattern"])))
    return tuple(rules)


def classify(user_agent: str | None) -> tuple[str | None, str | None, str]:
    """(agent, agent_version, kind) for one User-Agent. A missing one is its own agent: (None, None, "unknown")."""
    if user_agent is None or not user_agent.strip():
        return None, None, "unknown"
    for rule in agent_rules():
        m = rule.pattern.search(user_agent)
        if m:
            version = m.groupdict().get("version") or None
            return rule.agent, version, rule.kind
    parsed = user_agents.parse(user_agent)
    family = parsed.browser.family
    version = parsed.browser.version_string or None
    if parsed.is_bot and family != "Other":
        return family, version, "crawler"
    if parsed.is_bot or re.search(r"(?i)bot\b|crawler|spider", user_agent):
        name = re.search(r"([\w-]*(?:bot|crawler|spider)[\w-]*)", user_agent, re.I)
        return (name.group(1) if name else "bot"), None, "crawler"
    if family != "Other":
        return family, version, "browser"
    product = _PRODUCT.match(user_agent)
    if product:
        return product.group(1)[:40], product.group(2), "unknown"
    return user_agent[:40], None, "unknown"


def classify_user_agents(user_agent: pl.Series) -> pl.DataFrame:
    """One row per distinct User-Agent (null included) with its agent, version and kind."""
    distinct = user_agent.unique()
    rows = [(ua, *classify(ua)) for ua in distinct.to_list()]
    return pl.DataFrame(rows, schema=AGENT_SCHEMA, orient="row")
