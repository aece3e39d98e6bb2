"""docs/clients.md, written from what one lab run measured: each client's User-Agent as the servers
logged it, what it did with each redirect of a POST, its GET stream and teardown habits, and what it
repeated by itself.

    python -m lab clients-doc RUN > docs/clients.md     # RUN: a lab run, or the unpacked corpus
    python -m lab clients-data RUN > logscope/data/clients.toml   # the same facts, for `logscope check`

Everything in the page comes from the run's client records (truth.jsonl), its access logs and its
manifest; the lab's own templates are read only to quote the redirect directive each server was given.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .run import CLIENTS, DRIVERS, LAB
from .truth import load_records

REDIRECT_CODES = (301, 302, 303, 307, 308)
#: What each lab client is, in the words of its library (versions come from the run's manifest).
LIBRARIES = {
    "python-sdk": ("official Python SDK `Client`, Streamable HTTP", ["python mcp", "python httpx2"]),
    "python-sdk-sse": ("official Python SDK `Client`, legacy HTTP+SSE", ["python mcp", "python httpx2"]),
    "ts-sdk": ("official TypeScript SDK `Client`, Streamable HTTP", ["npm @modelcontextprotocol/sdk", "node"]),
    "ts-sdk-sse": ("official TypeScript SDK `Client`, legacy HTTP+SSE", ["npm @modelcontextprotocol/sdk", "node"]),
    "ts-sdk-fallback": ("TypeScript SDK, Streamable HTTP then HTTP+SSE", ["npm @modelcontextprotocol/sdk", "node"]),
    "node-fetch": ("hand-written client on Node's `fetch`", ["node", "npm undici"]),
    "python-requests": ("hand-written client on `requests`", ["python requests"]),
    "python-httpx": ("hand-written client on `httpx`, `follow_redirects=True`", ["python httpx"]),
    "python-aiohttp": ("hand-written client on `aiohttp`", ["python aiohttp"]),
    "java-httpclient": ("hand-written client on `java.net.http.HttpClient`, `Redirect.NORMAL`", ["java"]),
    "curl": ("hand-written client running `curl -L --data-binary`", ["curl"]),
    "fastmcp": ("FastMCP `Client(url)`", ["python fastmcp"]),
    "pydantic-ai": ("Pydantic AI `MCPToolset(url)`", ["python pydantic-ai-slim"]),
    "openai-agents": ("OpenAI Agents SDK `MCPServerStreamableHttp`", ["python openai-agents"]),
    "ai-sdk": ("Vercel AI SDK `createMCPClient`, HTTP transport", ["npm @ai-sdk/mcp", "node"]),
    "langchain": ("LangChain `MultiServerMCPClient`, HTTP", ["npm @langchain/mcp-adapters", "node"]),
    "mastra": ("Mastra `MCPClient`", ["npm @mastra/mcp", "node"]),
    "ts-sdk-v2": ("TypeScript SDK v2 `Client` (as mcp-use ships it)", ["npm @modelcontextprotocol/client", "node"]),
    "mcp-remote": ("`mcp-remote` stdio proxy, driven by an SDK client", ["npm mcp-remote", "node"]),
    "inspector": ("MCP Inspector CLI, `--method tools/list`", ["npm @modelcontextprotocol/inspector", "node"]),
}


def _path(url: str) -> str:
    return urlsplit(url).path


def _by(records: list[dict[str, Any]], **match: str) -> list[dict[str, Any]]:
    return [r for r in records if all(r[k] == v for k, v in match.items())]


def _redirect_outcome(records: list[dict[str, Any]]) -> str:
    """What the client did with the redirect of its first POST, in most attempts."""
    seen: Counter[str] = Counter()
    for r in records:
        hops = [h for h in r["hops"] if h.get("status") is not None]
        first = next((i for i, h in enumerate(hops) if h["method"] == "POST" and h["status"] in REDIRECT_CODES), None)
        if first is None:
            seen["no redirect seen"] += 1
            continue
        nxt = hops[first + 1] if first + 1 < len(hops) else None
        target = hops[first].get("location")
        if nxt is None or (target and nxt["url"] != target and _path(nxt["url"]) != _path(target)) or nxt["url"] == hops[first]["url"]:
            seen["not followed"] += 1
        elif nxt["method"] == "POST":
            seen["keeps POST"] += 1
        else:
            seen[f"POST → {nxt['method']}"] += 1
    return seen.most_common(1)[0][0] if seen else "—"


def _pattern(records: Iterable[dict[str, Any]]) -> str:
    """The most common exchange of an attempt, as `POST 200 → GET 200 → …`."""
    patterns = Counter(" → ".join(f"{h['method']} {h['status']}" for h in r["hops"] if h.get("status") is not None) for r in records)
    return patterns.most_common(1)[0][0] if patterns else "—"


def _user_agents(run: Path, manifest: dict[str, Any], client: str, case: str) -> list[str]:
    """The User-Agents the servers logged for the client's address in a case (nginx's combined log)."""
    server = manifest["servers"][0]
    source = manifest["clients"][server].get(case, {}).get(client)
    log = run / "logs" / server / case / ("nginx-combined.log" if server == "nginx" else f"{server}-combined.log")
    if source is None or not log.exists():
        return []
    agents: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(source + " "):
            quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
            agents[quoted[-1] if quoted else "?"] += 1
    return [ua for ua, _ in agents.most_common()]


def _directives() -> dict[str, dict[int, str]]:
    """The redirect each server was configured with in the http-30x cases (the lab's templates)."""
    found: dict[str, dict[int, str]] = {}
    pattern = re.compile(
        r'return 30\d [^;"]*;|redir https://\{host\}\{uri\}[^"}\n]*|Redirect \w+ / https://[^"\s]*|RewriteRule \^\(\.\*\)\$ [^"]*'
        r'|http-request redirect scheme https[^"\n]*'
    )
    for server in ("nginx", "caddy", "apache", "haproxy"):
        for code in REDIRECT_CODES:
            text = (LAB / "servers" / server / "cases" / f"http-{code}.j2").read_text()
            m = pattern.search(text)
            directive = m.group(0).strip() if m else "?"
            found.setdefault(server, {})[code] = directive.replace("{host}", "your-server.example") if server == "apache" else directive
    return found


def _versions(manifest: dict[str, Any], keys: list[str]) -> str:
    """`mcp 2.3.0, httpx2 2.16.2`: each program's or package's version as the manifest recorded it."""
    v = manifest["versions"]
    found = [(k.split(" ", 1)[-1], re.search(r"\d+(?:\.\d+)+", v[k])) for k in keys if k in v]
    return ", ".join(f"{name} {m.group(0)}" for name, m in found if m)


def clients_doc(run: Path) -> str:
    manifest = json.loads((run / "manifest.json").read_text())
    records = load_records(run / "truth.jsonl")
    server = manifest["servers"][0]
    out = [
        "# MCP clients, measured",
        "",
        "Written by `python -m lab clients-doc` from the lab run recorded in `tests/lab_corpus` (do not edit by hand:",
        "`python -m lab run --profile corpus --parallel --out RUN`, `python -m lab record RUN`, then this command;",
        "a server added later: `python -m lab run --profile corpus --servers NEW --out RUN2`, `python -m lab record RUN2 --add`).",
        "Servers: "
        + "; ".join(
            f"{'Caddy ' if s == 'caddy' else ''}{manifest['versions'][s].split(' - ')[0]}"
            for s in manifest["servers"]
            if s in manifest["versions"]
        )
        + ".",
        "Each row is what the client's own library reported (lab/truth.py), not what logscope says about it.",
        "",
        "## Who they are",
        "",
        "| client | library | User-Agent (as logged) | requests of one healthy attempt (TypeScript SDK server) |",
        "|---|---|---|---|",
    ]
    for client in (c for c in CLIENTS if _by(records, client=c)):  # the clients this run had
        what, keys = LIBRARIES[client]
        case = "healthy-sse" if client.endswith("-sse") else "legacy-fallback" if client.endswith("fallback") else "healthy-ts"
        agents = _user_agents(run, manifest, client, case)
        mine = _by(records, client=client, server=server, case=case)
        out.append(
            f"| `{client}` | {what} ({_versions(manifest, keys)}) | {', '.join(f'`{a}`' for a in agents) or '—'} | {_pattern(mine)} |"
        )
    out += [
        "",
        "Against the Python SDK's own server the Python SDK speaks the 2026-07-28 protocol after `server/discover`:",
        f"`{_pattern(_by(records, client='python-sdk', server=server, case='healthy'))}`, no session, no GET stream, no",
        "DELETE. Against the TypeScript server its discover POST gets 400 and it falls back to `initialize`.",
        "",
        "## A POST redirected from http:// to https://",
        "",
        "Each client was given the http:// URL of a server that redirects plain HTTP with the code in the column. What",
        "the client's next exchange was: `keeps POST` (followed, body re-sent), `POST → GET` (followed as a body-less",
        "GET), or `not followed` (the client stopped at the redirect).",
        "",
        "| client | " + " | ".join(str(c) for c in REDIRECT_CODES) + " |",
        "|---|" + "---|" * len(REDIRECT_CODES),
    ]
    streamable = [c for c in CLIENTS if _by(records, client=c, case="http-301")]
    for client in streamable:
        cells = []
        for code in REDIRECT_CODES:
            per_server = {s: _redirect_outcome(_by(records, client=client, server=s, case=f"http-{code}")) for s in manifest["servers"]}
            values = set(per_server.values())
            cells.append(values.pop() if len(values) == 1 else "; ".join(f"{s}: {v}" for s, v in per_server.items()))
        out.append(f"| `{client}` | " + " | ".join(cells) + " |")
    out += ["", "What each server answered a POST with, as the clients saw it:", "", "| server | directive | status |", "|---|---|---|"]
    directives = _directives()
    for s in manifest["servers"]:
        for code in REDIRECT_CODES:
            statuses = Counter(
                h["status"]
                for r in _by(records, server=s, case=f"http-{code}")
                for h in r["hops"][:1]
                if h["method"] == "POST" and h.get("status") is not None
            )
            got = "/".join(str(k) for k, _ in statuses.most_common()) or "—"
            out.append(f"| {s} | `{directives[s][code]}` | {got} |")
    out += _programs(run, records, manifest, server)
    out += ["", "## Streams, teardown, and what a client repeats by itself", ""]
    out += _habits(records, server)
    out += ["", "## OAuth", ""]
    for client in ("python-sdk", "ts-sdk"):
        rs = _by(records, client=client, server=server, case="oauth")
        agents = _user_agents(run, manifest, client, "oauth")
        out.append(f"- `{client}`: `{_pattern(rs)}`; the error it reported: {rs[-1]['error'] if rs else '—'}. "
                   f"User-Agents logged at its address: {', '.join(f'`{a}`' for a in agents)}.")  # fmt: skip
    out.append("")
    return "\n".join(out)


def _connected(records: list[dict[str, Any]]) -> str:
    return f"{sum(bool(r['ok']) for r in records)}/{len(records)}" if records else "—"


def _programs(run: Path, records: list[dict[str, Any]], manifest: dict[str, Any], server: str) -> list[str]:
    """The third-party programs: the protocol they speak (from the MCP headers each request was sent with), what
    replicas without sticky sessions and a 308 do to them, and the error they gave where a 301 stopped them."""
    programs = [c for c in DRIVERS["programs"] if _by(records, client=c, server=server, case="healthy")]
    if not programs:
        return []
    out = [
        "",
        "## Third-party programs",
        "",
        "Each attempt is the program run as people run it, on its own defaults (lab/clients/programs.py), with the MCP",
        "headers of every request recorded. `stateless`: it sent `Mcp-Method: server/discover` and never an",
        "`Mcp-Session-Id` (MCP 2026-07-28); `session`: it sent an `Mcp-Session-Id` after `initialize`. Replicas: two",
        "backends behind the server without sticky sessions. Attempts connected, over all servers.",
        "",
        "| program | User-Agents (as logged) | protocol revision sent | speaks | with a 2025-11-25 server (TypeScript SDK) "
        "| replicas: connected | 308: connected | given http:// with a 301, it said |",
        "|---|---|---|---|---|---|---|---|",
    ]
    habits: list[str] = []
    for client in programs:
        mine = _by(records, client=client, case="healthy")
        hops = [h for r in mine for h in r["hops"]]
        revisions = Counter(h["mcp-protocol-version"] for h in hops if h.get("mcp-protocol-version"))
        speaks = (
            "session"
            if any(h.get("mcp-session-id") for h in hops)
            else "stateless"
            if any(h.get("mcp-method") == "server/discover" for h in hops)
            else "—"
        )
        agents = _user_agents(run, manifest, client, "healthy")
        failed = [r for r in _by(records, client=client, case="http-301") if not r["ok"]]
        said = failed[-1]["error"].replace("|", "\\|")[:160] if failed else "(connected)"
        replicas, moved = _by(records, client=client, case="replicas"), _by(records, client=client, case="http-308")
        older = [h for r in _by(records, client=client, case="healthy-ts") for h in r["hops"]]
        if speaks == "stateless" and any(h.get("mcp-session-id") for h in older):
            on_older = "falls back to `initialize` and a session"
        elif older:
            on_older = "the same"
        else:
            on_older = "—"
        out.append(
            f"| `{client}` | {', '.join(f'`{a}`' for a in agents) or '—'} | {', '.join(revisions) or '—'} | {speaks} | "
            f"{on_older} | {_connected(replicas)} | {_connected(moved)} | {said} |"
        )
        habits += _program_habits(client, records)
    return out + (["", "What their records show besides:", "", *habits] if habits else [])


def _program_habits(client: str, records: list[dict[str, Any]]) -> list[str]:
    """Habits a log alone cannot explain, read from the programs' own records."""
    out = []
    moved = _by(records, client=client, case="http-308")
    inside = [r for r in moved if not r["ok"] and r["hops"] and 200 <= (r["hops"][-1].get("status") or 0) < 300]
    if inside:
        said = inside[-1]["error"][:120].replace("`", "'")
        out.append(
            f"- `{client}` followed the 308 and got a 2xx, then failed inside the client in {len(inside)} of {len(moved)} "
            f"attempts ({said}): no log can show that, the server answered every request."
        )
    kept = [
        (h, n)
        for r in _by(records, client=client, case="http-301")
        for h, n in zip(r["hops"], r["hops"][1:], strict=False)
        if h["method"] == "POST" and h.get("status") == 301 and n["method"] == "GET" and n.get("mcp-method")
    ]
    if kept:
        n = kept[-1][1]
        again = " It then tries again as a session client." if n["mcp-method"] == "server/discover" else ""
        kept_header = f"`Mcp-Method: {n['mcp-method']}`"
        out.append(f"- `{client}` followed a 301 as GET but kept its {kept_header} header (answered {n.get('status')}).{again}")
    if client == "mcp-remote":
        # Read from its source and README (mcp-remote 0.15.1) and met in the lab, which passes the flag.
        out.append(
            "- `mcp-remote` refuses an `http://` URL other than loopback unless given `--allow-http` "
            '("Non-HTTPS URLs are only allowed for localhost or when --allow-http flag is provided", mcp-remote 0.15.1); '
            "the lab passes it."
        )
    return out


def _habits(records: list[dict[str, Any]], server: str) -> list[str]:
    rows = [
        "| client | GET stream (healthy, TypeScript server) | DELETE at the end | stream cut by the proxy | answered 421 |",
        "|---|---|---|---|---|",
    ]
    for client in CLIENTS:
        healthy = _by(records, client=client, server=server, case="healthy-ts") or _by(
            records, client=client, server=server, case="healthy-sse"
        )
        if not healthy:
            continue
        hops = [h for r in healthy for h in r["hops"]]
        stream = any(h["method"] == "GET" and h.get("status") == 200 for h in hops)
        delete = any(h["method"] == "DELETE" for h in hops)
        cut = _by(records, client=client, server=server, case="stream-cut")
        if cut:
            gets = max(sum(h["method"] == "GET" and h.get("status") == 200 for h in r["hops"]) for r in cut)
            cut_text = f"re-opens it ({gets} streams in one attempt)" if gets > 1 else "does not re-open it"
        else:
            cut_text = "—"
        # Compared with a refusal the client does not repeat (406): one more request after a 421 is a repeat.
        misdirected = _by(records, client=client, server=server, case="host-check-py")
        refused = _by(records, client=client, server=server, case="accept-rewritten")
        if not misdirected or not refused:
            retry = "—"
        elif _requests(misdirected) > _requests(refused):
            retry = f"sends it again: {misdirected[-1]['error']}"
        else:
            retry = "stops"
        rows.append(f"| `{client}` | {'opens one' if stream else 'none'} | {'yes' if delete else 'no'} | {cut_text} | {retry} |")
    return rows


def _requests(records: list[dict[str, Any]]) -> float:
    """Requests per attempt, on average."""
    return sum(len(r["hops"]) for r in records) / len(records)


def clients_data(run: Path) -> str:
    """logscope/data/clients.toml: what `logscope check` says of a redirect, per client, from the same records as
    docs/clients.md (its redirect table: the outcome most servers showed)."""
    manifest = json.loads((run / "manifest.json").read_text())
    records = load_records(run / "truth.jsonl")
    out = [
        "# What each MCP client measured in the lab does with a POST redirected from http:// to https://, for",
        "# `logscope check`. Written by `python -m lab clients-data` from the recorded corpus (tests/lab_corpus), the",
        "# same records as docs/clients.md: do not edit by hand. Values: `keeps POST`, `POST → GET`, `not followed`.",
    ]
    for client in (c for c in CLIENTS if _by(records, client=c, case="http-301")):
        what, keys = LIBRARIES[client]
        outcomes = {}
        for code in REDIRECT_CODES:
            seen = Counter(_redirect_outcome(_by(records, client=client, server=s, case=f"http-{code}")) for s in manifest["servers"])
            outcomes[str(code)] = seen.most_common(1)[0][0]
        out += [
            "",
            f"[client.{client}]",
            f"label = {json.dumps(what.replace('`', '') + f' ({_versions(manifest, keys)})', ensure_ascii=False)}",
            "redirect = { " + ", ".join(f'"{k}" = {json.dumps(v, ensure_ascii=False)}' for k, v in outcomes.items()) + " }",
        ]
    return "\n".join(out) + "\n"
