"""Python's counterpart of lab/node/preload.mjs, imported before a third-party client program runs, so that the
program runs on its own defaults (its own HTTP client, headers, redirect policy) and the lab still knows what
it did:

- every httpx2 and httpx transport connects from LAB_SOURCE and trusts the lab CA in LAB_CA, whatever the
  program passed (it passes nothing: the lab gives it only a URL);
- every HTTP exchange the transport makes, redirect hops included, is appended to LAB_HOPS as one JSON line
  (method, URL, the User-Agent and MCP headers sent, status, Location and Strict-Transport-Security), the same lines as Node's.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from typing import Any

SOURCE = os.environ.get("LAB_SOURCE") or None
CA = os.environ.get("LAB_CA") or None
HOPS = os.environ.get("LAB_HOPS") or None
#: The request headers that say who sent it and how it speaks MCP (stateless or in a session, which revision).
SENT = ("user-agent", "mcp-method", "mcp-protocol-version", "mcp-session-id")


def _write(hop: dict[str, Any]) -> None:
    if HOPS:
        with open(HOPS, "a") as f:
            f.write(json.dumps(hop) + "\n")


def _patch(module: Any) -> None:
    transport = module.AsyncHTTPTransport
    original_init, original_handle = transport.__init__, transport.handle_async_request

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if SOURCE:
            kwargs["local_address"] = SOURCE
        if CA:
            kwargs["verify"] = ssl.create_default_context(cafile=CA)
        original_init(self, *args, **kwargs)

    async def handle_async_request(self: Any, request: Any) -> Any:
        hop: dict[str, Any] = {"method": request.method, "url": str(request.url)}
        for name in SENT:
            if name in request.headers:
                hop[name] = request.headers[name]
        try:
            response = await original_handle(self, request)
        except Exception as e:
            _write({**hop, "status": None, "error": f"{type(e).__name__}: {e}"[:300]})
            raise
        hop["status"] = response.status_code
        for name in ("location", "strict-transport-security"):
            if name in response.headers:
                hop[name] = response.headers[name]
        _write(hop)
        return response

    transport.__init__ = __init__
    transport.handle_async_request = handle_async_request


def install() -> None:
    import importlib

    for name in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            _patch(importlib.import_module(name))
