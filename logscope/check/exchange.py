"""One bounded HTTP exchange with the server under test, recorded as evidence.

Every request `logscope check` sends goes through `Prober.send`: no redirect is followed by the library (the
steps decide what to follow, and only to the hosts given), the body read is capped, every wait is bounded, and
credentials given with `--header` are never written into the record.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import LogscopeError
from ..version import __version__

MAX_BODY = 64 * 1024  # enough for any MCP handshake answer; an endless stream is cut here
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}
KEPT_HEADERS = (
    "content-type",
    "location",
    "strict-transport-security",
    "mcp-session-id",
    "www-authenticate",
    "allow",
    "server",
    "via",
)
USER_AGENT = f"logscope-check/{__version__}"  # `analyze` and `watch` set requests with it aside (ingest/logs.py)


@dataclass
class Exchange:
    """A request sent and what came back: the evidence behind a finding."""

    step: str
    method: str
    url: str
    sent_headers: dict[str, str]
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    seconds: float = 0.0
    error: str | None = None
    tls: dict[str, Any] | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def line(self) -> str:
        """The exchange in one line, as a finding's evidence shows it."""
        answer = f"{self.status}" if self.status is not None else f"no answer ({self.error})"
        extra = "".join(f" {k}: {v}" for k, v in self.headers.items() if k in ("location", "content-type"))
        extra += " (with a session id)" if "mcp-session-id" in self.headers else ""
        return f"{self.method} {self.url} → {answer}{extra}"

    def json_message(self) -> dict[str, Any] | None:
        """The JSON-RPC message of the answer: the JSON body, or the first `data:` event of an SSE body."""
        text = self.body
        if self.content_type == "text/event-stream":
            data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
            text = data[0] if data else ""
        try:
            message = json.loads(text)
        except ValueError:
            return None
        return message if isinstance(message, dict) and message.get("jsonrpc") == "2.0" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "method": self.method,
            "url": self.url,
            "sent_headers": self.sent_headers,
            "status": self.status,
            "headers": self.headers,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


def redacted(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("(given, not shown)" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def parse_header(text: str) -> tuple[str, str]:
    """`--header 'Name: value'` as a pair; a malformed one is the operator's error, said in one line."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
        raise LogscopeError(f"--header takes 'Name: value', not {text!r}")
    return name.strip(), value.strip()


class Prober:
    """Sends the check's requests: bounded in time and size, never following a redirect itself."""

    def __init__(self, *, timeout: float, verify: bool | str, headers: dict[str, str]) -> None:
        self.timeout = timeout
        self.given = headers  # the operator's --header values: sent to the URLs given, never recorded
        context = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self.client = httpx.Client(
            verify=context,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=4),
        )

    def close(self) -> None:
        self.client.close()

    def send(
        self,
        step: str,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        credentials: bool = True,
        read_body: bool = True,
    ) -> Exchange:
        """Send one request and record it. A failure to connect is recorded (`status` None, `error` set), not raised:
        the step decides whether it is an error (the URL given) or a fact (nothing listens on the HTTP port)."""
        sent = {**(self.given if credentials else {}), **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        exchange = Exchange(step, method, url, redacted(sent))
        started = time.monotonic()
        content = json.dumps(body).encode() if body is not None else None
        try:
            with self.client.stream(method, url, headers=sent, content=content) as response:
                exchange.status = response.status_code
                exchange.headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
                exchange.tls = _tls(response)
                if read_body:
                    exchange.body = _read(response, started + self.timeout)
        except httpx.HTTPError as exc:
            exchange.error = describe_failure(exc, url, self.timeout)
        exchange.seconds = time.monotonic() - started
        return exchange


def _read(response: httpx.Response, deadline: float) -> str:
    """At most MAX_BODY bytes, and of an SSE body only up to its first complete event: a server may hold the
    stream open for minutes."""
    chunks, size = [], 0
    sse = response.headers.get("content-type", "").startswith("text/event-stream")
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        text = b"".join(chunks)
        if size >= MAX_BODY or time.monotonic() > deadline:
            break
        if sse and b"data:" in text and (b"\n\n" in text.split(b"data:", 1)[1] or b"\r\n\r\n" in text.split(b"data:", 1)[1]):
            break
    return b"".join(chunks)[:MAX_BODY].decode("utf-8", "replace")


def _tls(response: httpx.Response) -> dict[str, Any] | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert() or {}  # empty when not verified (--insecure)
    info: dict[str, Any] = {"version": ssl_object.version(), "verified": bool(cert)}
    if cert:
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), UTC)
        info["expires"] = expires.isoformat().replace("+00:00", "Z")
        info["days_left"] = (expires - datetime.now(UTC)).days
        info["names"] = [v for k, v in cert.get("subjectAltName", ()) if k in ("DNS", "IP Address")]
    return info


def describe_failure(exc: BaseException, url: str, timeout: float) -> str:
    """One line for why nothing came back: the name, the connection, TLS, or time."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    chain = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(e) for e in chain).lower()
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {where} within {timeout:g} s"
    if any(isinstance(e, socket.gaierror) for e in chain) or "name or service not known" in text or "name resolution" in text:
        return f"cannot resolve {parts.hostname}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return f"connection refused by {where}"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "certificate" in text or "ssl" in text or "tls" in text:
        reason = next((str(e) for e in chain if isinstance(e, ssl.SSLError)), str(exc))
        return f"TLS failure with {where}: {reason}"
    return f"cannot talk to {where}: {exc}"
