"""One lab run: real servers in front of real MCP servers, real clients, and what each client saw.

    python -m lab run --out DIR [--fast] [--servers nginx,caddy,apache] [--cases a,b] [--fixed]

For each server (one wave after another): a throwaway CA, the MCP backends, the server configured from
lab/servers/<server>/ with one address per case (127.<server>.<case>.1, ports 80 and 443), then every
client driver at once, each client connecting from an address of its own (127.<100+client>.<server>.<case>;
Java's HttpClient cannot choose one, so it connects from 127.0.0.1). Afterwards DIR holds

    logs/<server>/<case>/<format>.log   the server's access logs, in each layout (lab/servers)
    truth.jsonl                         one line per client attempt, as the client recorded it
    manifest.json                       settings, versions, cases, clients and their addresses

With --fixed, every case that names a fix runs with that fix's snippet from logscope/data/fixes.toml
in its configuration instead of the broken directive (lab/fixes.py), and nothing else changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .checks import run_checks
from .clients.common import Assignment
from .pki import Pki, make_pki
from .processes import LabError, Processes, wait_for_port
from .servers import SERVERS, ServerSetup, has_case

LAB = Path(__file__).resolve().parent
NODE = LAB / "node"

#: Every client, in a fixed order: the index gives each its source addresses.
CLIENTS = (
    "python-sdk",
    "python-sdk-sse",
    "ts-sdk",
    "ts-sdk-sse",
    "ts-sdk-fallback",
    "node-fetch",
    "python-requests",
    "python-httpx",
    "python-aiohttp",
    "java-httpclient",
    "curl",
    # Third-party programs (lab/clients/programs.py), after the others so that their addresses stay as recorded.
    "fastmcp",
    "pydantic-ai",
    "openai-agents",
    "ai-sdk",
    "langchain",
    "mastra",
    "ts-sdk-v2",
    "mcp-remote",
    "inspector",
)
DRIVERS = {
    "python": ("python-sdk", "python-sdk-sse", "python-requests", "python-httpx", "python-aiohttp"),
    "node": ("ts-sdk", "ts-sdk-sse", "ts-sdk-fallback", "node-fetch"),
    "java": ("java-httpclient",),
    "curl": ("curl",),
    "programs": ("fastmcp", "pydantic-ai", "openai-agents", "ai-sdk", "langchain", "mastra", "ts-sdk-v2", "mcp-remote", "inspector"),
}
FIXED_SOURCE = {"java-httpclient": "127.0.0.1"}  # java.net.http cannot bind a local address (JDK 17)

#: MCP servers behind the proxies: name -> [(program, kind, port)]. `py-auth` gets one per server
#: (its protected-resource metadata names the public URL).
BACKENDS: dict[str, list[tuple[str, str, int]]] = {
    "py": [("python", "streamable", 9101)],
    "py-sse": [("python", "sse", 9102)],
    "py-strict": [("python", "strict", 9103)],
    "py-replicas": [("python", "streamable", 9104), ("python", "streamable", 9105)],
    "ts": [("node", "streamable", 9201)],
    "ts-sse": [("node", "sse", 9202)],
    "ts-strict": [("node", "strict", 9203)],
}
AUTH_PORT = 9110  # + the server's number


@dataclass(frozen=True)
class Settings:
    attempts: int
    stuck_after: int  # given to logscope as --stuck-after
    attempt_gap: float  # given to logscope as --attempt-gap
    pause: float  # between a client's attempts: longer than the attempt gap
    stream_timeout: float  # the proxy read timeout of the stream-cut case, seconds
    # Where the third-party programs (DRIVERS["programs"], a process per attempt) run: every case and server
    # that lists them, or only these (the fast profile, within CI's time; the recorded corpus has them all).
    program_cases: tuple[str, ...] | None = None
    program_servers: tuple[str, ...] | None = None


FULL = Settings(attempts=11, stuck_after=10, attempt_gap=30.0, pause=40.0, stream_timeout=60.0)
FAST = Settings(
    attempts=6,
    stuck_after=5,
    attempt_gap=5.0,
    pause=8.0,
    stream_timeout=1.5,
    program_cases=("healthy", "http-301", "replicas"),
    program_servers=("nginx",),
)
#: The recorded corpus (tests/lab_corpus): logscope's own attempt gap, six attempts a client, and a proxy
#: read timeout under the 15 s at which the TypeScript SDK server sends SSE keep-alives (with nginx's
#: default 60 s no stream of the stream-cut case was cut: measured in a first run).
CORPUS = Settings(attempts=6, stuck_after=5, attempt_gap=30.0, pause=35.0, stream_timeout=10.0)


@dataclass(frozen=True)
class Case:
    name: str
    summary: str
    backend: str
    url: str
    clients: tuple[str, ...]
    template: str
    fix: str | None = None
    hold: float = 0.0  # in multiples of the stream timeout
    authorization: bool = False
    oauth: bool = False


def load_cases() -> list[Case]:
    data = tomllib.loads((LAB / "cases.toml").read_text())
    groups = data["groups"]
    return [
        Case(
            c["name"],
            c["summary"],
            c["backend"],
            c["url"],
            tuple(groups[c["clients"]]),
            c.get("template", c["name"]),
            c.get("fix"),
            float(c.get("hold", 0.0)),
            bool(c.get("authorization", False)),
            bool(c.get("oauth", False)),
        )
        for c in data["case"]
    ]


def host(server_no: int, case_no: int) -> str:
    return f"127.{server_no}.{case_no}.1"


def source(client: str, server_no: int, case_no: int) -> str:
    return FIXED_SOURCE.get(client) or f"127.{100 + CLIENTS.index(client)}.{server_no}.{case_no}"


def _python() -> str:
    return sys.executable


def _versions() -> dict[str, str]:
    """What ran, as each program reports itself."""

    def first_line(argv: Sequence[str]) -> str:
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return "not found"
        return (done.stdout.strip() or done.stderr.strip()).splitlines()[0] if (done.stdout or done.stderr) else "?"

    from importlib.metadata import version

    found = {
        "nginx": first_line(["nginx", "-v"]),
        "caddy": first_line(["caddy", "version"]),
        "apache": first_line(["apache2", "-v"]),
        "haproxy": first_line(["haproxy", "-v"]),
        "node": first_line(["node", "--version"]),
        "java": first_line(["java", "-version"]),
        "curl": first_line(["curl", "--version"]),
    }
    for package in ("mcp", "httpx2", "httpx", "requests", "aiohttp", "fastmcp", "pydantic-ai-slim", "openai-agents"):
        found[f"python {package}"] = version(package)
    lock = json.loads((NODE / "package-lock.json").read_text())
    for package in (
        "@modelcontextprotocol/sdk",
        "undici",
        "@ai-sdk/mcp",
        "@langchain/mcp-adapters",
        "@mastra/mcp",
        "@modelcontextprotocol/client",
        "mcp-remote",
        "@modelcontextprotocol/inspector",
    ):
        found[f"npm {package}"] = lock["packages"][f"node_modules/{package}"]["version"]
    return found


def ensure_node_modules() -> None:
    """The Node side (the TypeScript SDK, undici, the third-party programs), exactly as package-lock.json pins
    them: npm ci, once, and again when package.json names a package not installed yet."""
    if (NODE / "node_modules" / ".package-lock.json").exists() and all(
        (NODE / "node_modules" / name).exists() for name in json.loads((NODE / "package.json").read_text())["dependencies"]
    ):
        return
    if shutil.which("npm") is None:
        raise LabError("npm is not installed (the lab's TypeScript clients and servers need Node.js and npm)")
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE, capture_output=True, text=True)
    if done.returncode:
        raise LabError(f"npm ci in {NODE} failed: {done.stderr.strip().splitlines()[-1:]}")


def start_backends(procs: Processes, names: set[str], public_auth: dict[int, str]) -> None:
    started: list[tuple[str, int]] = []
    for name in sorted(names - {"py-auth"}):
        for program, kind, port in BACKENDS[name]:
            if program == "python":
                argv = [_python(), "-m", "lab.backends.python_mcp", "--kind", kind, "--port", str(port)]
                procs.start(f"backend-{name}-{port}", argv, cwd=LAB.parent)
            else:
                procs.start(f"backend-{name}-{port}", ["node", "server.mjs", "--kind", kind, "--port", str(port)], cwd=NODE)
            started.append(("127.0.0.1", port))
    if "py-auth" in names:
        for server_no, url in public_auth.items():
            port = AUTH_PORT + server_no
            argv = [_python(), "-m", "lab.backends.python_mcp", "--kind", "auth", "--port", str(port), "--public-url", url]
            procs.start(f"backend-py-auth-{port}", argv, cwd=LAB.parent)
            started.append(("127.0.0.1", port))
    for address, port in started:
        wait_for_port(address, port, 30, procs)


def backend_addresses(case: Case, server_no: int) -> list[str]:
    if case.backend == "py-auth":
        return [f"127.0.0.1:{AUTH_PORT + server_no}"]
    return [f"127.0.0.1:{port}" for _, _, port in BACKENDS[case.backend]]


def assignments(cases: list[tuple[int, Case]], server: str, server_no: int, settings: Settings, ca: Path) -> list[Assignment]:
    out = []
    for case_no, case in cases:
        url = case.url.format(host=host(server_no, case_no))
        hold = case.hold * settings.stream_timeout
        for client in case.clients:
            if client in DRIVERS["programs"] and not _programs_run(settings, server, case.name):
                continue
            out.append(
                Assignment(
                    client,
                    server,
                    case.name,
                    url,
                    source(client, server_no, case_no),
                    settings.attempts,
                    settings.pause,
                    hold,
                    case.authorization,
                    case.oauth,
                    str(ca),
                )
            )
    return out


def _programs_run(settings: Settings, server: str, case: str) -> bool:
    return (settings.program_cases is None or case in settings.program_cases) and (
        settings.program_servers is None or server in settings.program_servers
    )


def driver_argv(driver: str, plan: Path, record: Path, run_dir: Path) -> tuple[list[str], Path | None]:
    if driver == "python":
        return [_python(), "-m", "lab.clients.python_clients", str(plan), str(record)], LAB.parent
    if driver == "curl":
        return [_python(), "-m", "lab.clients.curl_client", str(plan), str(record)], LAB.parent
    if driver == "programs":
        return [_python(), "-m", "lab.clients.programs", str(plan), str(record)], LAB.parent
    if driver == "node":
        return ["node", str(NODE / "clients.mjs"), str(plan), str(record)], NODE
    classes = run_dir / "java"
    return ["java", "-cp", str(classes), "LabClient", str(plan), str(record)], None


def _java_plan(plan: list[Assignment]) -> str:
    """The Java client's plan: one tab-separated assignment a line (the JDK has no JSON reader)."""
    truststore = {a.ca: a.ca.replace("ca.pem", "truststore.p12") for a in plan}
    rows = [
        [
            a.client,
            a.server,
            a.case,
            a.url,
            a.source,
            a.attempts,
            a.pause,
            a.hold,
            str(a.authorization).lower(),
            truststore[a.ca],
            a.timeout,
        ]
        for a in plan
    ]
    return "".join("\t".join(map(str, row)) + "\n" for row in rows)


def compile_java(run_dir: Path) -> None:
    classes = run_dir / "java"
    classes.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["javac", "-d", str(classes), str(LAB / "clients" / "LabClient.java")], capture_output=True, text=True)
    if done.returncode:
        raise LabError(f"javac failed: {done.stderr.strip()[:300]}")


def run_wave(
    procs: Processes,
    out: Path,
    pki: Pki,
    server: str,
    server_no: int,
    cases: list[tuple[int, Case]],
    settings: Settings,
    fixed: bool,
    drivers: Sequence[str],
) -> None:
    run_dir = out / "run"
    setup = ServerSetup(server, run_dir / server, out / "logs" / server, pki, settings.stream_timeout, fixed)
    cases = [(n, c) for n, c in cases if has_case(server, c.template)]
    blocks = []
    for case_no, case in cases:
        blocks.append(setup.render_case(case, host(server_no, case_no), backend_addresses(case, server_no)))
    server_proc = setup.start(procs, blocks)
    for case_no, _ in cases:
        for port in (80, 443):
            wait_for_port(host(server_no, case_no), port, 20, procs)
    plan = assignments(cases, server, server_no, settings, pki.ca)
    waiting = []
    for driver in drivers:
        mine = [a for a in plan if a.client in DRIVERS[driver]]
        if not mine:
            continue
        plan_file = run_dir / f"plan-{server}-{driver}.{'tsv' if driver == 'java' else 'json'}"
        plan_file.write_text(_java_plan(mine) if driver == "java" else json.dumps([asdict(a) for a in mine], indent=1))
        record = run_dir / f"truth-{server}-{driver}.jsonl"
        argv, cwd = driver_argv(driver, plan_file, record, run_dir)
        waiting.append((procs.start(f"client-{server}-{driver}", argv, cwd=cwd, env={"NODE_NO_WARNINGS": "1"}), record))
    for w, _record in waiting:
        w.process.wait()
        if w.process.returncode:
            tail = w.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise LabError(f"{w.name} exited with status {w.process.returncode}: {' | '.join(tail)}")
    # The operator's check, after the clients: the URL each case's clients were given, with their token if any.
    run_checks(
        out,
        server,
        [(c.name, c.url.format(host=host(server_no, n)), c.authorization and not c.oauth) for n, c in cases],
        pki.ca,
    )
    time.sleep(0.5)  # the last requests' log lines
    procs.stop(server_proc)
    setup.collect_logs(server_proc, [c.name for _, c in cases])


def run_lab(
    out: Path,
    settings: Settings,
    servers: Sequence[str] = SERVERS,
    only: Sequence[str] = (),
    fixed: bool = False,
    drivers: Sequence[str] = tuple(DRIVERS),
    parallel: bool = False,
) -> dict[str, Any]:
    """Run the lab into `out` (emptied first) and return its manifest."""
    if os.geteuid() != 0:
        raise LabError("the lab binds ports 80 and 443 on loopback addresses, which needs root")
    all_cases = load_cases()
    unknown = set(only) - {c.name for c in all_cases}
    if unknown:
        raise LabError(f"unknown case(s): {', '.join(sorted(unknown))}")
    numbered = [(i, c) for i, c in enumerate(all_cases, 1) if not only or c.name in only]
    if out.exists():
        shutil.rmtree(out)
    (out / "run").mkdir(parents=True)
    ensure_node_modules()
    if "java" in drivers:
        compile_java(out / "run")
    started = time.time()
    pki = make_pki(out / "run" / "pki", [host(SERVERS.index(s) + 1, n) for s in servers for n, _ in numbered])
    with Processes(out / "run") as procs:
        auth = next(((n, c) for n, c in numbered if c.backend == "py-auth"), None)
        auth_urls = {(k := SERVERS.index(s) + 1): auth[1].url.format(host=host(k, auth[0])) for s in servers} if auth else {}
        start_backends(procs, {c.backend for _, c in numbered}, auth_urls)
        waves = [(procs, out, pki, server, SERVERS.index(server) + 1, numbered, settings, fixed, drivers) for server in servers]
        if parallel:  # each server on addresses of its own: the waves can run at once
            with ThreadPoolExecutor(len(waves)) as pool:
                for done in [pool.submit(run_wave, *wave) for wave in waves]:
                    done.result()
        else:
            for wave in waves:
                run_wave(*wave)
        history = list(procs.history)
    # The drivers' records, one file, server after server and driver after driver.
    with (out / "truth.jsonl").open("w") as truth:
        for server in servers:
            for driver in drivers:
                record = out / "run" / f"truth-{server}-{driver}.jsonl"
                truth.write(record.read_text() if record.exists() else "")
    manifest = {
        "settings": asdict(settings),
        "fixed": fixed,
        "parallel": parallel,
        "seconds": round(time.time() - started, 1),
        "versions": _versions(),
        "servers": list(servers),
        "processes": history,  # all stopped by now, by these ids
        "cases": [{**asdict(c), "number": n, "clients": list(c.clients)} for n, c in numbered],
        "server_cases": {s: [c.name for _, c in numbered if has_case(s, c.template)] for s in servers},
        "clients": {
            s: {
                c.name: {
                    cl: source(cl, SERVERS.index(s) + 1, n)
                    for cl in c.clients
                    if cl not in DRIVERS["programs"] or _programs_run(settings, s, c.name)
                }
                for n, c in numbered
                if has_case(s, c.template)
            }
            for s in servers
        },
    }
    manifest["formats"] = log_layouts(out, servers)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def log_layouts(out: Path, servers: Sequence[str]) -> dict[str, dict[str, str]]:
    """How to tell logscope each custom layout, as an operator would: the nginx `log_format`
    directives in a file of their own (for --nginx-conf), the Apache LogFormat text (--log-format)."""
    layouts: dict[str, dict[str, str]] = {}
    if "nginx" in servers:
        conf = (out / "run" / "nginx" / "main.conf").read_text()
        directives = re.findall(r"^\s*(log_format .*;)\s*$", conf, flags=re.M)
        (out / "logs" / "nginx" / "log_formats.conf").write_text("http {\n" + "".join(f"    {d}\n" for d in directives) + "}\n")
        layouts["nginx-custom"] = {"nginx_conf": "logs/nginx/log_formats.conf", "log_format_name": "lab_custom"}
    if "apache" in servers:
        conf = (out / "run" / "apache" / "main.conf").read_text()
        text = re.search(r'^LogFormat "(.*)" lab_custom$', conf, flags=re.M)
        layouts["apache-custom"] = {"log_format": text.group(1).replace('\\"', '"')} if text else {}
    return layouts


PROFILES = {"full": FULL, "fast": FAST, "corpus": CORPUS}


def settings_for(profile: str, **overrides: Any) -> Settings:
    return replace(PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})
