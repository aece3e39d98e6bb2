"""The check's steps, in the order a client meets them: plain HTTP, the MCP handshake over HTTPS (stateless and
session), the session across requests, the stream and teardown, transport security, authorization.

Each step sends a few bounded requests through `Prober` and says what it saw as findings of the same catalogue
as `analyze` (codes, severities, fixes from data/fixes.toml) or as facts. What a client does with a redirect is
read from data/clients.toml, which the lab measured (docs/clients.md).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..detectors.redirects import METHOD_CHANGING as DOWNGRADING
from ..detectors.registry import Evidence, Finding, server_fixes
from ..detectors.security import INCLUDE_SUBDOMAINS, MAX_AGE, ONE_DAY, ONE_YEAR
from ..detectors.statuses import REFUSALS
from ..flows import REDIRECTS
from ..version import __version__
from .exchange import Exchange, Prober

ACCEPT = "application/json, text/event-stream"
MCP_HEADERS = {"Accept": ACCEPT, "Content-Type": "application/json"}
SESSION_REVISION = "2025-11-25"
STATELESS_REVISION = "2026-07-28"
CLIENT_INFO = {"name": "logscope-check", "version": __version__}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": SESSION_REVISION, "capabilities": {}, "clientInfo": CLIENT_INFO},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
#: A `Server` or `Via` answer header -> the system whose fix to show first. nginx's, Caddy's and Apache's are seen in
#: the lab; the others are the vendors' documented values, not measured here.
SERVER_HEADERS = (
    (r"(?i)^nginx", "nginx"),
    (r"(?i)^caddy", "caddy"),
    (r"(?i)^apache", "apache"),
    (r"(?i)^cloudflare", "cloudflare"),
    (r"(?i)^awselb", "aws-alb"),
    (r"(?i)cloudfront", "cloudfront"),
    (r"(?i)^(google frontend|gws)|\bgoogle\b", "gcp-lb"),
    (r"(?i)^microsoft-iis", "iis"),
    (r"(?i)^envoy", "envoy"),
)


def stamped(method: str, request_id: int, revision: str = STATELESS_REVISION) -> dict[str, Any]:
    """A request of the stateless revision: the client's revision, identity and capabilities in `_meta`."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": revision,
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"_meta": meta}}


def request(method: str, request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method}


@cache
def measured_clients() -> dict[str, dict[str, Any]]:
    """data/clients.toml: what each lab client did with each redirect of a POST."""
    return tomllib.loads(resources.files("logscope.data").joinpath("clients.toml").read_text("utf-8"))["client"]


def clients_doing(code: int, outcome: str) -> list[str]:
    return [name for name, c in measured_clients().items() if c["redirect"].get(str(code)) == outcome]


@dataclass
class Target:
    """What the check of one URL found: findings, facts, every exchange, or the one-line reason it could not run."""

    url: str
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    error: str | None = None
    systems: list[str] = field(default_factory=list)

    def found(self, code: str, severity: str, title: str, detail: str, evidence: list[Exchange]) -> None:
        now = datetime.now(UTC)
        number = {id(e): i for i, e in enumerate(self.exchanges, 1)}
        refs = [Evidence(ref=f"request {number[id(e)]}", text=e.line()) for e in evidence if id(e) in number]
        self.findings.append(Finding(code, severity, title, detail, [], len(evidence), now, now, server_fixes(code, self.systems), refs))


class Steps:
    """The steps against one URL, sharing its prober and what earlier steps learned."""

    def __init__(self, prober: Prober, target: Target, allow_hosts: tuple[str, ...], tries: int) -> None:
        self.prober, self.target, self.tries = prober, target, tries
        self.hosts = {urlsplit(target.url).hostname or "", *allow_hosts}

    def send(self, step: str, method: str, url: str, **kwargs: Any) -> Exchange:
        exchange = self.prober.send(step, method, url, **kwargs)
        self.target.exchanges.append(exchange)
        for value in (exchange.header("server"), exchange.header("via")):
            for pattern, system in SERVER_HEADERS:
                if value and re.search(pattern, value) and system not in self.target.systems:
                    self.target.systems.append(system)
        return exchange

    def allowed(self, url: str) -> bool:
        return urlsplit(url).hostname in self.hosts

    # --- plain HTTP ------------------------------------------------------------------------------------

    def plain_http(self, url: str, given: bool) -> str | None:
        """POST initialize to the http:// URL without following. Returns the URL to check MCP on next: the
        HTTPS endpoint it redirects to on an allowed host, or the http:// URL itself when it serves MCP."""
        facts = self.target.facts.setdefault("plain_http", {"url": url})
        ex = self.send("plain HTTP: initialize", "POST", url, headers=MCP_HEADERS, body=INITIALIZE, credentials=given)
        if ex.status is None:
            if given:
                self.target.error = ex.error
            else:
                facts["answer"] = f"nothing answers ({ex.error}): clients given the http:// URL fail at once, which is safe"
            return None
        facts["status"] = ex.status
        if given and any(k.lower() == "authorization" for k in self.prober.given):
            self.target.found(
                "cleartext-credentials",
                "critical",
                "Credentials sent over plain HTTP",
                f"The Authorization header given went to {url} in cleartext, as every client configured with this http:// "
                "URL sends its own, before any redirect can help: rotate the tokens, publish the https:// URL.",
                [ex],
            )
        if ex.header("strict-transport-security"):
            self.target.found(
                "hsts-over-http",
                "low",
                "HSTS sent over plain HTTP",
                "The plain-HTTP answer carries Strict-Transport-Security, which clients ignore over HTTP (RFC 6797 §8.1): "
                "send it from the HTTPS server.",
                [ex],
            )
        if ex.status in REDIRECTS:
            return self._redirected(url, ex, facts, given)
        if (200 <= ex.status < 300 and ex.json_message() is not None) or ex.status == 401:
            facts["answer"] = "MCP served over plain HTTP"
            self._served_over_http(f"POST {url} was answered {ex.status}", ex)
            return url if given else None
        facts["answer"] = f"answered {ex.status}"
        # The URL given answers over plain HTTP, if not with MCP: the MCP steps say why (a refusal, a legacy endpoint).
        return url if given else None

    def _served_over_http(self, what: str, ex: Exchange) -> None:
        self.target.found(
            "http-served",
            "high",
            "MCP served over plain HTTP",
            f"{what} over plain HTTP: whatever a client sends, its token included, can be read and changed on the way. "
            "Redirect plain HTTP with 308 and publish the https:// URL.",
            [ex],
        )

    def _redirected(self, url: str, ex: Exchange, facts: dict[str, Any], given: bool) -> str | None:
        location = urljoin(url, ex.header("location") or "")
        facts["location"] = location
        if not given:
            # The plain-HTTP twin of the https:// URL given: no client with that URL meets its redirect, but one given
            # the http:// URL would (the seed's case). A 301/302/303 there is analyze's unsafe-post-redirect.
            if ex.status in DOWNGRADING:
                downgrade, stop = clients_doing(ex.status, "POST → GET"), clients_doing(ex.status, "not followed")
                self.target.found(
                    "unsafe-post-redirect",
                    "medium",
                    f"POST answered with {ex.status}",
                    f"POST {url} is answered {ex.status} to {location}. No client given the https:// URL meets it, but one "
                    f"given the http:// URL breaks (measured in the lab, docs/clients.md): {', '.join(downgrade) or 'none'} "
                    f"re-send it as a body-less GET, {', '.join(stop) or 'none'} stop at the redirect. A 308 keeps the POST.",
                    [ex],
                )
            return None
        if ex.status in DOWNGRADING:
            followed = None
            if self.allowed(location):
                # What requests, httpx, aiohttp, Node's fetch, Java's HttpClient and curl -L do (measured): GET, no body.
                step = "plain HTTP: the redirect followed as GET"
                followed = self.send(step, "GET", location, headers={"Accept": ACCEPT}, credentials=given)
            downgrade, stop = clients_doing(ex.status, "POST → GET"), clients_doing(ex.status, "not followed")
            got = f"answered {followed.status}" if followed is not None and followed.status is not None else "not sent (another host)"
            detail = (
                f"POST {url} is answered {ex.status} to {location}. Clients given the http:// URL break (measured in the lab, "
                f"docs/clients.md): {', '.join(downgrade) or 'none'} follow it as a body-less GET (RFC 9110 §15.4), which this "
                f"server {got} — the seed's loop; {', '.join(stop) or 'none'} stop at the redirect. A 308 keeps the POST."
            )
            evidence = [ex] + ([followed] if followed is not None else [])
            self.target.found("redirect-method-downgrade", "high", f"POST over plain HTTP answered {ex.status}", detail, evidence)
        else:
            stop = clients_doing(ex.status or 0, "not followed")
            if stop:
                self.target.found(
                    "redirect-not-followed",
                    "low",
                    f"POST over plain HTTP answered {ex.status}",
                    f"POST {url} is answered {ex.status} to {location}: the method is kept, and every client measured follows it "
                    f"except {', '.join(stop)} (no redirect at all): publish the https:// URL.",
                    [ex],
                )
        target = urlsplit(location)
        if not self.allowed(location):
            facts["not_followed"] = f"the redirect goes to another host, {target.hostname}: not checked (--allow-host {target.hostname})"
            return None
        return location if target.scheme == "https" else None

    # --- MCP over HTTPS (or the HTTP it is served on) -------------------------------------------------------

    def mcp(self, url: str) -> None:
        url = self._discover(url)
        if self.target.error:
            return
        init = self.send("initialize", "POST", url, headers=MCP_HEADERS, body=INITIALIZE)
        if init.status is not None and 200 <= init.status < 300 and not init.body.strip():
            # A success with nothing in it is no answer yet: a server under load can send the headers and drop the
            # body (the lab's Python SDK server did, once in a CI run, twice in a row). Asked once more before concluding.
            init = self.send("initialize (again: the first answer was empty)", "POST", url, headers=MCP_HEADERS, body=INITIALIZE)
        if self._handshake_answered(url, init):
            message = init.json_message() or {}
            result = message.get("result") or {}
            revision = result.get("protocolVersion")
            self.target.facts["session"] = {
                "revision": revision,
                "server": (result.get("serverInfo") or {}).get("name"),
                "session_id": bool(init.header("mcp-session-id")),
            }
            headers = {**MCP_HEADERS, "Mcp-Protocol-Version": str(revision or SESSION_REVISION)}
            if init.header("mcp-session-id"):
                headers["Mcp-Session-Id"] = init.header("mcp-session-id") or ""
            self._session(url, headers)
        if init.status is not None:  # whatever the handshake's fate, its answers carry the transport's policy
            self._transport_security(url, init)

    def _discover(self, url: str) -> str:
        """server/discover at the stateless revision. A redirect of the endpoint itself (to its trailing-slash twin)
        is reported and followed, keeping the method, for the steps after it."""
        headers = {**MCP_HEADERS, "Mcp-Protocol-Version": STATELESS_REVISION, "Mcp-Method": "server/discover"}
        ex = self.send("server/discover (MCP 2026-07-28)", "POST", url, headers=headers, body=stamped("server/discover", 1))
        if ex.status in REDIRECTS:
            url = self._endpoint_redirect(url, ex)
            if self.target.error:
                return url
            ex = self.send("server/discover (MCP 2026-07-28)", "POST", url, headers=headers, body=stamped("server/discover", 1))
        if ex.status is None:
            self.target.error = ex.error
            return url
        message = ex.json_message()
        stateless = 200 <= ex.status < 300 and message is not None and "result" in message
        facts: dict[str, Any] = {"status": ex.status, "speaks": stateless}
        if stateless:
            listing = {**headers, "Mcp-Method": "tools/list"}
            listed = [
                self.send("tools/list, stateless", "POST", url, headers=listing, body=stamped("tools/list", 2 + i))
                for i in range(self.tries)
            ]
            facts["tools_list"] = [e.status for e in listed]
        self.target.facts["stateless"] = facts
        return url

    def _endpoint_redirect(self, url: str, ex: Exchange) -> str:
        location = urljoin(url, ex.header("location") or "")
        here, there = urlsplit(url), urlsplit(location)
        if not self.allowed(location) or there.scheme != here.scheme:
            self.target.error = f"{url} redirects a POST with {ex.status} to {location}: check that URL instead"
            return url
        twin = there.path.rstrip("/") == here.path.rstrip("/")
        followed = None
        if ex.status in DOWNGRADING:
            followed = self.send("the endpoint's redirect followed as GET", "GET", location, headers={"Accept": ACCEPT})
            self.target.found(
                "redirect-method-downgrade",
                "high",
                f"POST to the endpoint answered {ex.status}",
                f"POST {url} is answered {ex.status} to {location}: the HTTP libraries and some MCP clients (measured: "
                f"{', '.join(clients_doing(ex.status, 'POST → GET'))}) re-send it as a body-less GET, answered "
                f"{followed.status if followed.status is not None else followed.error}.",
                [ex, followed],
            )
        if twin:
            self.target.found(
                "trailing-slash-redirect",
                "medium",
                "Endpoint redirected to add or drop a trailing slash",
                f"POST {url} is redirected ({ex.status}) to {location}: every client pays a round trip, and those that do not "
                "follow a redirect, or re-send it as GET, fail. Answer both spellings without a redirect.",
                [ex] + ([followed] if followed is not None else []),
            )
        return location

    def _handshake_answered(self, url: str, ex: Exchange) -> bool:
        """Whether initialize got an MCP answer; otherwise the finding or the one-line error that says why not."""
        if ex.status is None:
            self.target.error = ex.error
            return False
        if ex.status == 401:
            self._authorization(url, ex)
            return False
        if ex.status in (404, 405) and self._legacy_sse(url, ex):  # Starlette answers the POST 405, Express 404
            return False
        refused = next(((code, title) for code, (statuses, title, _) in REFUSALS.items() if ex.status in statuses), None)
        if refused is not None:
            code, title = refused
            self.target.found(
                code, "high", title, f"initialize, sent as every MCP client sends it ({ACCEPT}), was answered {ex.status}.", [ex]
            )
            return False
        message = ex.json_message()
        if 200 <= ex.status < 300 and message is not None and "result" in message:
            return True
        kind = ex.content_type or "no content type"
        said = f": {message['error'].get('message')}" if message and isinstance(message.get("error"), dict) else ""
        if message is not None and 400 <= ex.status < 500:
            # An MCP answer that refuses a well-formed initialize: every client fails here. Measured: a proxy that
            # rewrites Content-Type makes the TypeScript SDK server answer 400 "No valid session ID provided".
            self.target.found(
                "initialize-refused",
                "high",
                "The endpoint refuses initialize",
                f"initialize, sent as every MCP client sends it, was answered {ex.status}{said}. Something between the clients "
                "and the server changes the request (a proxy rewriting Content-Type or Accept, or the body), or the server "
                "refuses every client.",
                [ex],
            )
            return False
        if 200 <= ex.status < 300 and not ex.body.strip():
            self.target.error = f"{url} answered initialize with {ex.status} and an empty body ({kind}), twice: no MCP answer"
            return False
        self.target.error = f"{url} answered initialize with {ex.status} ({kind}){said}: not an MCP endpoint that accepts clients"
        return False

    def _legacy_sse(self, url: str, refused: Exchange) -> bool:
        """A POST refused with 405 where a GET opens an SSE stream whose first event is `endpoint`: the legacy HTTP+SSE
        transport (MCP 2024-11-05), which current clients reach only by falling back."""
        stream = self.send("GET (legacy HTTP+SSE)", "GET", url, headers={"Accept": "text/event-stream"})
        if stream.status != 200 or stream.content_type != "text/event-stream" or "event: endpoint" not in stream.body:
            return False
        self.target.facts["legacy_sse"] = "GET opens an SSE stream that names its message endpoint (MCP 2024-11-05)"
        if urlsplit(url).scheme == "http":
            self._served_over_http(f"GET {url} opened an MCP stream", stream)
        self.target.found(
            "legacy-transport-fallback",
            "low",
            "Only the legacy HTTP+SSE transport is served",
            f"POST {url} is answered 405 and a GET opens the legacy HTTP+SSE stream (MCP 2024-11-05): clients of the "
            "current revision connect only if they fall back to it, which some do not. Serve Streamable HTTP as well.",
            [refused, stream],
        )
        return True

    def _session(self, url: str, headers: dict[str, str]) -> None:
        """The session across requests: the notification, tools/list `tries` times, the GET stream, DELETE."""
        sent = [self.send("notifications/initialized", "POST", url, headers=headers, body=INITIALIZED)]
        sent += [
            self.send(f"tools/list {i + 1} of {self.tries}", "POST", url, headers=headers, body=request("tools/list", 2 + i))
            for i in range(self.tries)
        ]
        lost = [e for e in sent if e.status in (400, 404)]
        facts = self.target.facts["session"]
        facts["answers"] = [e.status for e in sent]
        if lost and "Mcp-Session-Id" in headers:
            stateless = self.target.facts.get("stateless", {}).get("speaks")
            self.target.found(
                "session-lost",
                "high",
                "Session lost right after a successful request",
                f"{len(lost)} of {len(sent)} requests sent with the session initialize created were answered "
                f"{'/'.join(sorted({str(e.status) for e in lost}))}: the session does not survive to the next request (several "
                "replicas without shared sessions, or restarts)."
                + (" Clients that speak MCP 2026-07-28 are unaffected: this server answered server/discover." if stateless else ""),
                lost[:3],
            )
        stream = self.send("GET stream", "GET", url, headers={**headers, "Accept": "text/event-stream"}, read_body=False)
        facts["stream"] = (
            "offered (text/event-stream)"
            if stream.status == 200 and stream.content_type == "text/event-stream"
            else "not offered (405, as the specification allows)"
            if stream.status == 405
            else f"answered {stream.status if stream.status is not None else stream.error}"
        )
        strict = self.send("Accept: application/json only", "POST", url, headers={**headers, "Accept": "application/json"},
                           body=request("tools/list", 99))  # fmt: skip
        facts["accept_json_only"] = (
            "refused with 406: clients that accept only application/json (hand-written ones) fail"
            if strict.status == 406
            else f"answered {strict.status}"
        )
        if "Mcp-Session-Id" in headers:
            end = self.send("DELETE (teardown)", "DELETE", url, headers=headers)
            facts["teardown"] = f"answered {end.status if end.status is not None else end.error}"

    # --- transport security and authorization --------------------------------------------------------------

    def _transport_security(self, url: str, answer: Exchange) -> None:
        if urlsplit(url).scheme != "https":
            return
        tls = next((e.tls for e in self.target.exchanges if e.tls), None)
        if tls:
            self.target.facts["tls"] = tls
        sts = answer.header("strict-transport-security")
        facts: dict[str, Any] = {"header": sts}
        self.target.facts["hsts"] = facts
        # HSTS is a per-host policy: every HTTPS answer should carry it, the proxy's own redirects too (HAProxy's do not).
        answers = [e for e in self.target.exchanges if urlsplit(e.url).scheme == "https" and e.status is not None]
        missing = [e for e in answers if not e.header("strict-transport-security")]
        if missing:
            partial = len(missing) < len(answers)
            self.target.found(
                "hsts-missing",
                "medium" if partial else "high",
                "HTTPS responses without HSTS",
                f"{len(missing)} of {len(answers)} HTTPS answers carried no Strict-Transport-Security header"
                + (" (it is sent on some answers only)." if partial else ".")
                + " Without it an attacker on the first plain-HTTP connection can downgrade tool calls and read bearer tokens.",
                missing[:3],
            )
        if not sts:
            return
        found = re.search(MAX_AGE, sts)
        max_age = int(found.group(1)) if found else 0
        subdomains = bool(re.search(INCLUDE_SUBDOMAINS, sts))
        facts.update(max_age=max_age, include_subdomains=subdomains, preload=bool(re.search(r"(?i)\bpreload\b", sts)))
        problems = []
        if max_age < ONE_YEAR:
            below = ", and below a day" if max_age < ONE_DAY else ""
            problems.append(f"max-age {max_age:,} s is below one year ({ONE_YEAR:,} s){below}")
        if not subdomains:
            problems.append("includeSubDomains is missing")
        if problems:
            self.target.found(
                "hsts-weak",
                "high" if max_age < ONE_DAY else "medium",
                "HSTS policy too weak",
                f"Strict-Transport-Security is '{sts}': {'; '.join(problems)}. Agents restart often and lose their in-process HSTS cache.",
                [answer],
            )

    def _authorization(self, url: str, challenge: Exchange) -> None:
        """A 401: the challenge, the protected-resource metadata (RFC 9728) and the authorization server's (RFC 8414,
        OpenID Connect Discovery), as a client walks them before it can sign in."""
        header = challenge.header("www-authenticate") or ""
        found = re.search(r'resource_metadata="([^"]+)"', header)
        here = urlsplit(url)
        facts: dict[str, Any] = {"www_authenticate": header or None}
        self.target.facts["authorization"] = facts
        if any(k.lower() == "authorization" for k in self.prober.given):
            facts["credentials"] = "the credentials given with --header were refused (401)"
        candidates = [found.group(1)] if found else []
        candidates += [
            urlunsplit((here.scheme, here.netloc, f"/.well-known/oauth-protected-resource{here.path}", "", "")),
            urlunsplit((here.scheme, here.netloc, "/.well-known/oauth-protected-resource", "", "")),
        ]
        resource = self._first_document("protected-resource metadata", candidates, "authorization_servers")
        if resource is None:
            facts["protected_resource"] = "not found"
            self._cannot_sign_in(challenge, "no protected-resource metadata (RFC 9728) is served: " + ", ".join(dict.fromkeys(candidates)))
            return
        servers = resource[1].get("authorization_servers") or []
        facts["protected_resource"] = resource[0].url
        facts["authorization_servers"] = servers
        issuer = urlsplit(str(servers[0]))
        if not self.allowed(str(servers[0])):
            facts["authorization_server"] = f"on another host, {issuer.hostname}: not checked (--allow-host {issuer.hostname})"
            return
        path = issuer.path.rstrip("/")
        metadata = [
            urlunsplit((issuer.scheme, issuer.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")),
            urlunsplit((issuer.scheme, issuer.netloc, f"/.well-known/openid-configuration{path}", "", "")),
            urlunsplit((issuer.scheme, issuer.netloc, f"{path}/.well-known/openid-configuration", "", "")),
        ]
        document = self._first_document("authorization-server metadata", list(dict.fromkeys(metadata)), "token_endpoint")
        if document is None:
            facts["authorization_server"] = "no metadata"
            self._cannot_sign_in(
                challenge,
                f"the authorization server it names, {servers[0]}, serves no metadata (RFC 8414, OpenID Connect Discovery): "
                + ", ".join(dict.fromkeys(metadata)),
            )
            return
        facts["authorization_server"] = document[0].url

    def _first_document(self, what: str, urls: list[str], needs: str) -> tuple[Exchange, dict[str, Any]] | None:
        for url in dict.fromkeys(urls):
            if not self.allowed(url):
                continue
            ex = self.send(what, "GET", url, headers={"Accept": "application/json"}, credentials=False)
            try:
                document = json.loads(ex.body) if ex.status == 200 else None
            except ValueError:
                document = None
            if isinstance(document, dict) and document.get(needs):
                return ex, document
        return None

    def _cannot_sign_in(self, challenge: Exchange, why: str) -> None:
        evidence = [challenge] + [e for e in self.target.exchanges if e.step.endswith("metadata")]
        self.target.found(
            "auth-loop",
            "high",
            "OAuth cannot be completed",
            f"The endpoint answers 401, and {why}. A client finds nowhere to sign in: it asks again, gets 401 again, and never connects.",
            evidence[:4],
        )
