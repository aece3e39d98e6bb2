"""Name the client software behind each distinct User-Agent, once per distinct value, joined back."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import polars as pl
from ua_parser import parse_device, parse_user_agent

KINDS = ("mcp-client", "http-library", "browser", "crawler", "scanner", "unknown")
AGENT_SCHEMA = {"user_agent": pl.String, "agent": pl.String, "agent_version": pl.String, "kind": pl.String}
_PRODUCT = re.compile(r"^\s*([^/(;]*[^/(;\s])(?:/([^\s;(]+))?")
_BOT = r"(?i)bot\b|crawler|spider"
#: Distinct User-Agents the rules leave that are parsed with uap-core's regexes (ua-parser, in Rust where its
#: ua-parser-rs accelerator is installed), the most common first; the rest (a crawler farm, or an attacker
#: sending one per request) are named by the cheap vectorised rule, so the work stays bounded.
MAX_PARSED = 50_000


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


def _version(*parts: str | None) -> str | None:
    """uap-core's version parts as one string, numbers without leading zeros (as user-agents wrote it)."""
    found = [str(int(p)) if p.isdigit() else p for p in parts if p is not None]
    return ".".join(found) or None


def parse_browser(user_agent: str) -> tuple[str | None, str | None, str]:
    """(agent, agent_version, kind) from uap-core's regexes, for a User-Agent no rule of agents.toml names."""
    parsed = parse_user_agent(user_agent)
    family = parsed.family if parsed is not None else "Other"
    version = _version(parsed.major, parsed.minor, parsed.patch) if parsed is not None else None
    device = parse_device(user_agent)
    is_bot = device is not None and device.family == "Spider"
    if is_bot and family != "Other":
        return family, version, "crawler"
    if is_bot or re.search(_BOT, user_agent):
        name = re.search(r"([\w-]*(?:bot|crawler|spider)[\w-]*)", user_agent, re.I)
        return (name.group(1) if name else "bot"), None, "crawler"
    if family != "Other":
        return family, version, "browser"
    return _product(user_agent)


def _product(user_agent: str) -> tuple[str | None, str | None, str]:
    product = _PRODUCT.match(user_agent)
    if product:
        return product.group(1)[:40], product.group(2), "unknown"
    return user_agent[:40], None, "unknown"


def classify(user_agent: str | None) -> tuple[str | None, str | None, str]:
    """(agent, agent_version, kind) for one User-Agent. A missing one is its own agent: (None, None, "unknown")."""
    if user_agent is None or not user_agent.strip():
        return None, None, "unknown"
    for rule in agent_rules():
        m = rule.pattern.search(user_agent)
        if m:
            version = m.groupdict().get("version") or None
            return rule.agent, version, rule.kind
    return parse_browser(user_agent)


def _by_rules(distinct: pl.DataFrame) -> pl.DataFrame:
    """The rules of agents.toml over all distinct User-Agents at once: the first that matches names one."""
    ua = pl.col("user_agent")
    rules = agent_rules()
    first = pl.coalesce([pl.when(ua.str.contains(r.pattern.pattern)).then(pl.lit(i, pl.UInt16)) for i, r in enumerate(rules)])
    versions = [
        pl.when(pl.col("_rule") == i).then(ua.str.extract(r.pattern.pattern, r.pattern.groupindex["version"]))
        for i, r in enumerate(rules)
        if "version" in r.pattern.groupindex
    ]
    named = distinct.with_columns(first.alias("_rule")).with_columns(
        pl.col("_rule").replace_strict(range(len(rules)), [r.agent for r in rules], default=None, return_dtype=pl.String).alias("agent"),
        (pl.coalesce(versions) if versions else pl.lit(None, pl.String)).alias("agent_version"),
        pl.col("_rule").replace_strict(range(len(rules)), [r.kind for r in rules], default=None, return_dtype=pl.String).alias("kind"),
    )
    return named.with_columns(pl.when(pl.col("agent_version") == "").then(None).otherwise(pl.col("agent_version")).alias("agent_version"))


def classify_user_agents(user_agent: pl.Series, weights: pl.Series | None = None) -> pl.DataFrame:
    """One row per distinct User-Agent (null included) with its agent, version and kind.

    The rules run over all of them at once; uap-core parses, one by one, at most MAX_PARSED of those left (the
    most common first, by `weights`: requests or clients per User-Agent, row for row with `user_agent`), and the
    long tail gets the cheap rule (a bot's name, or the first product token)."""
    counts = (
        pl.DataFrame(
            {"user_agent": user_agent.cast(pl.String), "_w": weights if weights is not None else pl.repeat(1, user_agent.len(), eager=True)}
        )
        .group_by("user_agent")
        .agg(pl.col("_w").sum())
    )
    blank = pl.col("user_agent").is_null() | (pl.col("user_agent").str.strip_chars() == "")
    named = _by_rules(counts.filter(~blank).select("user_agent", "_w"))
    left = named.filter(pl.col("_rule").is_null()).sort("_w", "user_agent", descending=[True, False])
    parsed = left.head(MAX_PARSED)
    rows = [(ua, *parse_browser(ua)) for ua in parsed["user_agent"].to_list()]
    tail = left.slice(MAX_PARSED)
    tail_rows = [(ua, *_cheap(ua)) for ua in tail["user_agent"].to_list()] if tail.height else []
    out = [
        named.filter(pl.col("_rule").is_not_null()).select(list(AGENT_SCHEMA)),
        pl.DataFrame(rows + tail_rows, schema=AGENT_SCHEMA, orient="row"),
        counts.filter(blank).select(
            "user_agent",
            pl.lit(None, pl.String).alias("agent"),
            pl.lit(None, pl.String).alias("agent_version"),
            pl.lit("unknown").alias("kind"),
        ),
    ]
    return pl.concat(out)


def _cheap(user_agent: str) -> tuple[str | None, str | None, str]:
    """The long tail's rule: a bot's name where it says it is one, else its first product token."""
    if re.search(_BOT, user_agent):
        name = re.search(r"([\w-]*(?:bot|crawler|spider)[\w-]*)", user_agent, re.I)
        return (name.group(1) if name else "bot"), None, "crawler"
    return _product(user_agent)
