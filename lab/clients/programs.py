"""The lab's third-party client programs, one driver process for all of them:

    python -m lab.clients.programs PLAN.json RECORD.jsonl

Each attempt is a process of its own running the program as people run it: lab/node/programs.mjs (the Vercel
AI SDK, LangChain's adapters, Mastra, the TypeScript SDK v2 client, mcp-remote, the MCP Inspector CLI) under
lab/node/preload.mjs, or lab.clients.python_programs (FastMCP, Pydantic AI, the OpenAI Agents SDK) under
lab.clients.preload. The preloads bind the assignment's source address, trust the lab CA and write every HTTP
exchange the program's own network stack made to a hops file, which becomes the attempt's record. A process
per attempt also means no state (connections, sessions, caches) carries from one attempt to the next, as when
a person starts the program again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from .common import Assignment, Hops, Record, load_plan, now

LAB = Path(__file__).resolve().parent.parent
NODE_PROGRAMS = ("ai-sdk", "langchain", "mastra", "ts-sdk-v2", "mcp-remote", "inspector")
PYTHON_PROGRAMS = ("fastmcp", "pydantic-ai", "openai-agents")
PROGRAMS = NODE_PROGRAMS + PYTHON_PROGRAMS
#: Attempt processes at once: each loads a runtime and a client library (0.4 to 2.2 s of CPU, 150 MB).
AT_ONCE = 4
#: Starting a program is no part of its attempt: on a loaded machine (CI runs every other client meanwhile)
#: importing Pydantic AI or the OpenAI Agents SDK took over 20 s, and was reported as no answer (measured).
STARTUP_S = 60.0


def _argv(program: str) -> tuple[list[str], Path]:
    if program in NODE_PROGRAMS:
        node = LAB / "node"
        return ["node", "--import", str(node / "preload.mjs"), str(node / "programs.mjs"), program], node
    return [sys.executable, "-m", "lab.clients.python_programs", program], LAB.parent


def _hops(path: Path) -> Hops:
    hops = Hops()
    if path.exists():
        for line in path.read_text().splitlines():
            hop = json.loads(line)
            hops.items.append(hop)
    return hops


async def attempt(a: Assignment, hops_file: Path, slots: asyncio.Semaphore) -> tuple[bool, str | None]:
    """One attempt: the program's process, its exit status and the last line it wrote on standard error."""
    argv, cwd = _argv(a.client)
    env = {
        **os.environ,
        "LAB_URL": a.url,
        "LAB_HOLD": str(a.hold),
        "LAB_AUTHORIZATION": "1" if a.authorization else "0",
        "LAB_SOURCE": a.source,
        "LAB_CA": a.ca,
        "LAB_HOPS": str(hops_file),
        "NODE_NO_WARNINGS": "1",
    }
    async with slots:
        # A session of its own, so that a program's own children (mcp-remote, the Inspector) are stopped with it.
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), STARTUP_S + a.timeout + a.hold)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return False, f"no answer within {a.timeout + a.hold:.0f} s (and {STARTUP_S:.0f} s to start)"
    if proc.returncode == 0:
        return True, None
    lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
    return False, (lines[-1] if lines else f"exit status {proc.returncode}")[:400]


async def run(a: Assignment, record: Record, scratch: Path, slots: asyncio.Semaphore) -> None:
    for number in range(1, a.attempts + 1):
        hops_file = scratch / f"{a.client}-{a.source}-{number}.jsonl"
        start = now()
        ok, error = await attempt(a, hops_file, slots)
        record.write(a, number, start, ok, error, _hops(hops_file))
        if number < a.attempts:
            await asyncio.sleep(a.pause)


async def main(plan: str, record_path: str) -> None:
    record = Record(record_path)
    slots = asyncio.Semaphore(AT_ONCE)
    with tempfile.TemporaryDirectory(prefix="lab-programs-") as scratch:
        assignments = [a for a in load_plan(plan) if a.client in PROGRAMS]
        await asyncio.gather(*(run(a, record, Path(scratch), slots) for a in assignments))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.splitlines()[2].strip())
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    print(json.dumps({"done": True}))
