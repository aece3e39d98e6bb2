"""The lab's Python clients, one driver process for all of them:

    python -m lab.clients.python_clients PLAN.json RECORD.jsonl

- `python-sdk`: the official SDK's `Client` over `streamable_http_client` (httpx2 underneath), as an
  agent uses it: connect, list tools, leave (the SDK sends DELETE itself);
- `python-sdk-sse`: the same `Client` over the SDK's legacy `sse_client`;
- `python-requests`, `python-httpx` (`follow_redirects=True`, as agents turn it on), `python-aiohttp`:
  hand-written MCP clients (lab.clients.common.handwritten_session) on each library's defaults.

Every exchange is recorded from the library itself: httpx2/httpx response hooks, requests' and
aiohttp's redirect history. Each attempt binds its connections to the assignment's source address.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .common import Assignment, AttemptFailed, Hops, Record, Reply, describe, handwritten_session, load_plan, now


def _context(a: Assignment) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=a.ca)


async def python_sdk(a: Assignment, hops: Hops, sse: bool = False) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    async def hook(response: httpx2.Response) -> None:
        hops.add(response.request.method, str(response.request.url), response.status_code, response.headers)

    def factory(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None):
        return httpx2.AsyncClient(
            headers={**(headers or {}), **a.headers},
            timeout=timeout or httpx2.Timeout(30.0, read=300.0),  # the SDK's own defaults
            auth=auth,
            transport=httpx2.AsyncHTTPTransport(verify=_context(a), local_address=a.source),
            event_hooks={"response": [hook]},
        )

    auth = _oauth(a) if a.oauth else None
    if sse:
        async with Client(sse_client(a.url, httpx_client_factory=factory, auth=auth)) as client:
            await client.list_tools()
            await asyncio.sleep(a.hold)
        return
    async with factory(auth=auth) as http, Client(streamable_http_client(a.url, http_client=http)) as client:
        await client.list_tools()
        await asyncio.sleep(a.hold)


def _oauth(a: Assignment):
    """The SDK's own OAuth client, as an agent sets it up; the step that needs a person (the browser) fails."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    class Memory:
        def __init__(self) -> None:
            self.tokens: Any = None
            self.client: Any = None

        async def get_tokens(self) -> Any:
            return self.tokens

        async def set_tokens(self, tokens: Any) -> None:
            self.tokens = tokens

        async def get_client_info(self) -> Any:
            return self.client

        async def set_client_info(self, info: Any) -> None:
            self.client = info

    async def no_browser(url: str) -> None:
        raise RuntimeError("no browser to open the authorization URL")

    metadata = OAuthClientMetadata(client_name="logscope lab", redirect_uris=["http://127.0.0.1:9999/callback"])  # type: ignore[list-item]
    return OAuthClientProvider(a.url, metadata, Memory(), redirect_handler=no_browser)


async def python_httpx(a: Assignment, hops: Hops) -> None:
    import httpx

    transport = httpx.AsyncHTTPTransport(verify=_context(a), local_address=a.source)
    async with httpx.AsyncClient(transport=transport, follow_redirects=True, timeout=a.timeout) as http:

        async def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
            r = await http.request(method, url, headers=headers, json=body)
            for step in [*r.history, r]:
                hops.add(step.request.method, str(step.request.url), step.status_code, step.headers)
            return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.text)

        await handwritten_session(send, a, teardown=False, hold=asyncio.sleep)


async def python_aiohttp(a: Assignment, hops: Hops) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(ssl=_context(a), local_addr=(a.source, 0))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=a.timeout)) as http:

        async def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
            async with http.request(method, url, headers=headers, json=body) as r:
                text = await r.text()
                for step in [*r.history, r]:
                    hops.add(step.method, str(step.url), step.status, step.headers)
                return Reply(r.status, {k.lower(): v for k, v in r.headers.items()}, text)

        await handwritten_session(send, a, teardown=False, hold=asyncio.sleep)


def _requests_session(a: Assignment):
    import requests
    from requests.adapters import HTTPAdapter

    class SourceAdapter(HTTPAdapter):
        """Connections from the assignment's source address (urllib3's source_address)."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["source_address"] = (a.source, 0)
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("http://", SourceAdapter())
    session.mount("https://", SourceAdapter())
    return session


async def python_requests(a: Assignment, hops: Hops) -> None:
    session = _requests_session(a)

    def blocking(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
        r = session.request(method, url, headers=headers, json=body, timeout=a.timeout, verify=a.ca)  # not REQUESTS_CA_BUNDLE
        for step in [*r.history, r]:
            hops.add(step.request.method or "", step.url, step.status_code, step.headers)
        return Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.text)

    async def send(method: str, url: str, headers: dict[str, str], body: Any) -> Reply:
        return await asyncio.to_thread(blocking, method, url, headers, body)

    try:
        await handwritten_session(send, a, teardown=True, hold=asyncio.sleep)
    finally:
        session.close()


async def _sdk_sse(a: Assignment, hops: Hops) -> None:
    await python_sdk(a, hops, sse=True)


CLIENTS: dict[str, Callable[[Assignment, Hops], Awaitable[None]]] = {
    "python-sdk": python_sdk,
    "python-sdk-sse": _sdk_sse,
    "python-httpx": python_httpx,
    "python-aiohttp": python_aiohttp,
    "python-requests": python_requests,
}


async def run(a: Assignment, record: Record) -> None:
    """The assignment's attempts, one after another, each recorded as the client saw it."""
    for attempt in range(1, a.attempts + 1):
        hops, start = Hops(), now()
        try:
            await asyncio.wait_for(CLIENTS[a.client](a, hops), a.timeout + a.hold)
            ok, error = True, None
        except (AttemptFailed, Exception) as e:
            ok, error = False, describe(e) if not isinstance(e, TimeoutError) else f"no answer within {a.timeout + a.hold:.0f} s"
        record.write(a, attempt, start, ok, error, hops)
        if attempt < a.attempts:
            await asyncio.sleep(a.pause)


async def main(plan: str, record_path: str) -> None:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=256))  # requests: a thread per client
    record = Record(record_path)
    assignments = [a for a in load_plan(plan) if a.client in CLIENTS]
    await asyncio.gather(*(run(a, record) for a in assignments))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.splitlines()[2].strip())
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    print(json.dumps({"done": True}))
