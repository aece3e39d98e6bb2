"""One attempt of one third-party Python MCP client program, run as people run it (defaults, no language model):

    python -m lab.clients.python_programs PROGRAM

The attempt is described by the environment, as for lab/node/programs.mjs: LAB_URL, LAB_HOLD, LAB_AUTHORIZATION,
and LAB_SOURCE, LAB_CA, LAB_HOPS for lab.clients.preload, which binds the source address and records every
exchange. Exit 0: the program connected and listed the tools; otherwise the error on one line and exit 1.

- `fastmcp`: FastMCP's `Client(url)` (its Streamable HTTP transport), list_tools();
- `pydantic-ai`: Pydantic AI's `MCPToolset(url)`, list_tools() inside `async with`;
- `openai-agents`: the OpenAI Agents SDK's `MCPServerStreamableHttp`, connect(), list_tools(), cleanup().
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

from .common import describe
from .preload import install

install()  # before any program imports its HTTP client

URL = os.environ.get("LAB_URL", "")
HOLD = float(os.environ.get("LAB_HOLD") or 0)
HEADERS = {"Authorization": "Bearer lab-token"} if os.environ.get("LAB_AUTHORIZATION") == "1" else {}


async def fastmcp() -> None:
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    async with Client(StreamableHttpTransport(URL, headers=HEADERS or None)) as client:
        await client.list_tools()
        await asyncio.sleep(HOLD)


async def pydantic_ai() -> None:
    from pydantic_ai.mcp import MCPToolset

    async with MCPToolset(URL, headers=HEADERS or None) as toolset:
        await toolset.list_tools()
        await asyncio.sleep(HOLD)


async def openai_agents() -> None:
    from agents.mcp import MCPServerStreamableHttp

    server = MCPServerStreamableHttp({"url": URL, **({"headers": HEADERS} if HEADERS else {})})
    try:
        await server.connect()
        await server.list_tools()
        await asyncio.sleep(HOLD)
    finally:
        await server.cleanup()


PROGRAMS: dict[str, Callable[[], Awaitable[None]]] = {"fastmcp": fastmcp, "pydantic-ai": pydantic_ai, "openai-agents": openai_agents}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PROGRAMS:
        print(f"usage: python -m lab.clients.python_programs {{{','.join(PROGRAMS)}}}", file=sys.stderr)
        return 2
    try:
        asyncio.run(PROGRAMS[argv[0]]())
    except BaseException as e:  # the program's own error, whatever it is, is the attempt's
        print(describe(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
