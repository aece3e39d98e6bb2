"""What every lab client driver shares: its assignments, the record it keeps, and the MCP handshake a
hand-written client performs.

A driver is given a plan (JSON: a list of assignments) and writes one JSON line per attempt to its
record file. The record is what the client itself saw: whether the attempt connected, the error it
got, and every HTTP exchange its library made (method, URL, status), as the library reports them.
It is the lab's truth and is never edited afterwards.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = "2025-06-18"
TOKEN = "lab-token"  # the bearer token clients send where a case asks for one: a dummy, never a real credential


@dataclass(frozen=True)
class Assignment:
    client: str
    server: str
    case: str
    url: str
    source: str  # the loopback address the client connects from: its identity in the server's log
    attempts: int
    pause: float  # seconds between the end of one attempt and the start of the next
    hold: float = 0.0  # seconds to keep a connected session open
    authorization: bool = False
    oauth: bool = False  # the SDK clients run OAuth (discovery, registration) when the server asks; no browser completes it
    ca: str = ""  # the lab CA's PEM file
    timeout: float = 20.0  # one attempt's limit, beyond `hold`

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"} if self.authorization else {}


def load_plan(path: str | Path) -> list[Assignment]:
    return [Assignment(**a) for a in json.loads(Path(path).read_text())]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Hops:
    """The HTTP exchanges of one attempt, in the order the library made them."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, method: str, url: str, status: int | None, headers: Mapping[str, str] | None = None, error: str | None = None) -> None:
        """One exchange; of the response's headers only Location and Strict-Transport-Security are kept."""
        hop: dict[str, Any] = {"method": method, "url": url, "status": status}
        for name in ("location", "strict-transport-security"):
            value = next((v for k, v in (headers or {}).items() if k.lower() == name), None)
            if value is not None:
                hop[name] = value
        if error:
            hop["error"] = error
        self.items.append(hop)


class Record:
    """The driver's record file: one JSON object per attempt, written as each attempt ends."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = threading.Lock()

    def write(self, a: Assignment, attempt: int, start: str, ok: bool, error: str | None, hops: Hops, **extra: Any) -> None:
        row = {
            "client": a.client,
            "server": a.server,
            "case": a.case,
            "source": a.source,
            "url": a.url,
            "attempt": attempt,
            "start": start,
            "end": now(),
            "ok": ok,
            "error": error,
            "hops": hops.items,
            **extra,
        }
        with self.lock, self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def describe(exc: BaseException) -> str:
    """The innermost error of an exception (groups and chains unwrapped), on one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text[:400]


class AttemptFailed(Exception):
    pass


# The hand-written clients' MCP exchange: initialize, the initialized notification, tools/list, and,
# for clients that tear down, DELETE. Each request goes to the URL the client was given, as simple
# agents do; the library follows redirects (or not) as it does by default or as configured.
def initialize(client: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": client, "version": "1.0"}},
    }


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    text: str


Send = Callable[[str, str, dict[str, str], dict[str, Any] | None], Awaitable[Reply]]  # method, url, headers, JSON body


def rpc_result(reply: Reply, request_id: int, step: str) -> dict[str, Any]:
    """The JSON-RPC result for `request_id` in a JSON or SSE reply; AttemptFailed otherwise."""
    if not 200 <= reply.status < 300:
        raise AttemptFailed(f"{step}: HTTP {reply.status}")
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in reply.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    else:
        try:
            messages = [json.loads(reply.text)]
        except ValueError as e:
            raise AttemptFailed(f"{step}: HTTP {reply.status} without JSON") from e
    for m in messages:
        if isinstance(m, dict) and m.get("id") == request_id:
            if "result" in m:
                return m["result"]
            raise AttemptFailed(f"{step}: JSON-RPC error {m.get('error')}")
    raise AttemptFailed(f"{step}: HTTP {reply.status} without a response to request {request_id}")


BASE_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def handwritten_session(send: Send, a: Assignment, teardown: bool, hold: Callable[[float], Awaitable[None]]) -> None:
    headers = {**BASE_HEADERS, **a.headers}
    reply = await send("POST", a.url, headers, initialize(a.client))
    rpc_result(reply, 1, "initialize")
    session = reply.headers.get("mcp-session-id")
    headers = {**headers, "MCP-Protocol-Version": PROTOCOL_VERSION, **({"Mcp-Session-Id": session} if session else {})}
    reply = await send("POST", a.url, headers, INITIALIZED)
    if not 200 <= reply.status < 300:
        raise AttemptFailed(f"notifications/initialized: HTTP {reply.status}")
    rpc_result(await send("POST", a.url, headers, TOOLS_LIST), 2, "tools/list")
    await hold(a.hold)
    if teardown and session:
        await send("DELETE", a.url, {k: v for k, v in headers.items() if k != "Content-Type"}, None)
