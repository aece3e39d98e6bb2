"""The lab's curl client: a hand-written MCP client that runs the `curl` command for every request,
the way a shell-script agent does (`curl -L -d @body`: redirects followed, the method left to curl).

    python -m lab.clients.curl_client PLAN.json RECORD.jsonl

Each exchange curl makes is read from its own verbose trace (`> METHOD path`, `< HTTP/1.1 status`).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .common import Assignment, AttemptFailed, Hops, Record, Reply, describe, handwritten_session, load_plan, now

SENT = re.compile(r"^> ([A-Z]+) (\S+) HTTP/")
HOST = re.compile(r"^> Host: (\S+)", re.IGNORECASE)
GOT = re.compile(r"^< HTTP/[\d.]+ (\d{3})")
HEADER = re.compile(r"^< ([A-Za-z-]+): (.*)$")
CONNECTED = re.compile(r"^\* (?:Connected to \S+ \(\S+\) port|Established connection to \S+ \(\S+ port) (\d+)")


def _exchanges(trace: str) -> list[dict[str, Any]]:
    """The requests curl sent and the status each got, from `curl -v`'s trace."""
    out: list[dict[str, Any]] = []
    port = "443"
    for line in trace.splitlines():
        if m := CONNECTED.match(line):
            port = m.group(1)
        elif m := SENT.match(line):
            out.append({"method": m.group(1), "path": m.group(2), "host": "", "port": port, "status": None, "headers": {}})
        elif (m := HOST.match(line)) and out:
            out[-1]["host"] = m.group(1)
        elif (m := GOT.match(line)) and out and out[-1]["status"] is None:
            out[-1]["status"] = int(m.group(1))
        elif (m := HEADER.match(line)) and out:
            out[-1]["headers"][m.group(1)] = m.group(2).strip()
    return out


def curl(a: Assignment, method: str, url: str, headers: dict[str, str], body: Any, hops: Hops) -> Reply:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        head, out = Path(tmp) / "headers", Path(tmp) / "body"
        argv = [
            "curl",
            "-sS",
            "-v",
            "-L",
            "--interface",
            a.source,
            "--cacert",
            a.ca,
            "--max-time",
            str(a.timeout),
            "-D",
            str(head),
            "-o",
            str(out),
        ]
        for k, v in headers.items():
            argv += ["-H", f"{k}: {v}"]
        if body is not None:
            argv += ["--data-binary", json.dumps(body)]  # a POST; on 301/302/303 curl -L re-sends it as GET
        elif method != "GET":
            argv += ["-X", method]
        done = subprocess.run([*argv, url], capture_output=True, text=True)
        for x in _exchanges(done.stderr):
            scheme = "https" if x["port"] == "443" else "http"
            hops.add(x["method"], f"{scheme}://{x['host']}{x['path']}", x["status"], x["headers"])
        if done.returncode:
            raise AttemptFailed(f"curl exit {done.returncode}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
        blocks = [b for b in head.read_text(errors="replace").replace("\r\n", "\n").split("\n\n") if b.strip()]
        lines = blocks[-1].splitlines() if blocks else []
        status = int(lines[0].split()[1]) if lines else 0
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        return Reply(
            status, {k.strip().lower(): v.strip() for k, v in fields.items()}, out.read_text(errors="replace") if out.exists() else ""
        )


async def attempt(a: Assignment, hops: Hops) -> None:
    async def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
        return await asyncio.to_thread(curl, a, method, url, headers, body, hops)

    await handwritten_session(send, a, teardown=False, hold=asyncio.sleep)


async def run(a: Assignment, record: Record) -> None:
    for n in range(1, a.attempts + 1):
        hops, start = Hops(), now()
        try:
            await asyncio.wait_for(attempt(a, hops), a.timeout * 4 + a.hold)
            ok, error = True, None
        except Exception as e:
            ok, error = False, describe(e)
        record.write(a, n, start, ok, error, hops)
        if n < a.attempts:
            await asyncio.sleep(a.pause)


async def main(plan: str, record_path: str) -> None:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=256))  # every client at once
    record = Record(record_path)
    await asyncio.gather(*(run(a, record) for a in load_plan(plan) if a.client == "curl"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("python -m lab.clients.curl_client PLAN.json RECORD.jsonl")
    asyncio.run(main(sys.argv[1], sys.argv[2]))
