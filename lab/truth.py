"""What each client's own record says happened: outcome, transport and the failure modes it lived through.

The rules that turn a client's attempts into an outcome are the spec's (docs/model.md),
applied to the attempts the client itself counted; the failure modes are read from the HTTP exchanges
its library reported (method, URL, status, Location, Strict-Transport-Security). Nothing here reads a
server log: this is the side logscope is judged against.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

METHOD_CHANGING = {301, 302, 303}
REDIRECTS = {301, 302, 303, 307, 308}
SESSION_LOST_REPEATS = 2  # logscope's session-lost counts a client seen at least twice
ONE_YEAR = 31536000

Hop = dict[str, Any]


def load_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _path(url: str) -> str:
    return urlsplit(url).path


def _scheme(url: str) -> str:
    return urlsplit(url).scheme


def _endpoint(hop: Hop) -> bool:
    return "/.well-known/" not in _path(hop["url"])  # discovery, also under the endpoint's path (mcp-remote)


def _target(hop: Hop) -> str | None:
    return urljoin(hop["url"], hop["location"]) if hop.get("location") else None


def _pairs(hops: list[Hop]) -> Iterable[tuple[Hop, Hop | None]]:
    for i, hop in enumerate(hops):
        yield hop, hops[i + 1] if i + 1 < len(hops) else None


# One rule per failure-mode code: does this attempt (its hops, and whether it connected) show it?
def _downgrade(hops: list[Hop], ok: bool) -> bool:
    return any(
        h["method"] == "POST" and h["status"] in METHOD_CHANGING and n is not None and n["method"] == "GET"
        and _path(n["url"]) == _path(_target(h) or h["url"]) and (n["status"] or 0) >= 400
        for h, n in _pairs(hops)
    )  # fmt: skip


def _not_followed(hops: list[Hop], ok: bool) -> bool:
    """A POST redirected, and no later exchange of the attempt went where it said (not only the next one:
    the TypeScript SDK's POST and GET stream run at once, their redirects interleave in the record)."""
    return any(
        h["method"] == "POST" and h["status"] in REDIRECTS and _endpoint(h) and all(m["url"] != _target(h) for m in hops[i + 1 :])
        for i, h in enumerate(hops)
    )


def _slash_redirects(hops: list[Hop]) -> Iterable[tuple[Hop, Hop | None]]:
    """Redirects to the same path with or without a trailing slash, each with the exchange after it."""
    for h, n in _pairs(hops):
        target, path = _target(h), _path(h["url"])
        if h["status"] in REDIRECTS and target and _path(target) in (path + "/", path.removesuffix("/")) and _path(target) != path:
            yield h, n


def _slash(hops: list[Hop], ok: bool) -> bool:
    return any(True for _ in _slash_redirects(hops))


def _slash_followed(hops: list[Hop], ok: bool) -> bool:
    """...and the client asked for the other spelling next: a log without Location shows it too."""
    return any(n is not None and n["url"] == _target(h) for h, n in _slash_redirects(hops))


def _lost_session(hops: list[Hop], ok: bool) -> bool:
    """A request refused right after a 2xx, sent with a session: where the record has the Mcp-Session-Id
    headers, a request sent without one (a stream asked for while initialize was in flight) lost nothing."""
    ep = [h for h in hops if _endpoint(h) and h["status"] is not None and not (h["method"] in ("GET", "DELETE") and h["status"] == 405)]
    headers_recorded = any(h.get("mcp-session-id") for h in hops)
    return any(
        200 <= a["status"] < 300 and b["status"] in (400, 404) and (b.get("mcp-session-id") or not headers_recorded)
        for a, b in itertools.pairwise(ep)
    )


def _status(*codes: int, methods: tuple[str, ...] | None = None) -> Callable[[list[Hop], bool], bool]:
    def rule(hops: list[Hop], ok: bool) -> bool:
        return any(h["status"] in codes and _endpoint(h) and (methods is None or h["method"] in methods) for h in hops)

    return rule


def _fallback(hops: list[Hop], ok: bool) -> bool:
    """A POST refused, then a GET to /sse later in the attempt (LangChain's adapters try a GET stream on the
    endpoint first, measured)."""
    refused = next((i for i, h in enumerate(hops) if h["method"] == "POST" and h["status"] in (400, 404, 405)), None)
    return refused is not None and any(h["method"] == "GET" and _path(h["url"]).rstrip("/").endswith("/sse") for h in hops[refused + 1 :])


def _reopened_stream(hops: list[Hop], ok: bool) -> bool:
    """Two GET streams in one session (by the Mcp-Session-Id they were sent with, where the record has it):
    mcp-remote opens two sessions in one attempt, a stream each, which is no stream re-opened."""
    streams = Counter(
        h.get("mcp-session-id")
        for h in hops
        if h["method"] == "GET" and h["status"] == 200 and _endpoint(h) and not _path(h["url"]).endswith("/sse")
    )
    return any(n >= 2 for n in streams.values())


def _http_served(hops: list[Hop], ok: bool) -> bool:
    return any(_scheme(h["url"]) == "http" and h["status"] is not None and 200 <= h["status"] < 300 and _endpoint(h) for h in hops)


#: code -> the attempt rule, and how many attempts must show it for the client to have that failure mode.
ATTEMPT_RULES: dict[str, tuple[Callable[[list[Hop], bool], bool], int]] = {
    "redirect-method-downgrade": (_downgrade, 1),
    "redirect-not-followed": (_not_followed, 1),
    "trailing-slash-redirect": (_slash, 1),
    "trailing-slash-redirect followed": (_slash_followed, 1),
    "session-lost": (_lost_session, SESSION_LOST_REPEATS),
    "not-acceptable": (_status(406), 1),
    "unsupported-media-type": (_status(415), 1),
    "forbidden": (_status(403, 421), 1),
    "legacy-transport-fallback": (_fallback, 1),
    "stream-cut": (_reopened_stream, 2),
    "http-served": (_http_served, 1),
}


@dataclass
class ClientTruth:
    server: str
    case: str
    client: str
    source: str
    attempts: int = 0
    connected: int = 0
    errors: list[str] = field(default_factory=list)
    modes: set[str] = field(default_factory=set)
    schemes: set[str] = field(default_factory=set)
    hops: list[list[Hop]] = field(default_factory=list)
    authorization: bool = False
    blind: int = 0  # attempts with an exchange that ended without an answer the client saw
    unseen: int = 0  # failed attempts whose every answer the log shows as a success (a 2xx body the client could not use)
    headers_sent: set[str] = field(default_factory=set)  # "session" (Mcp-Session-Id), "discover" (server/discover)

    def outcome(self, stuck_after: int, as_logged: bool = False) -> str:
        """The spec's outcome of the client's attempts; `as_logged` counts the failures no log can show
        (`unseen`) as the successes the server logged."""
        connected = self.connected + (self.unseen if as_logged else 0)
        failed = self.attempts - connected
        if connected:
            return "connected" if failed * 4 < self.attempts else "degraded"
        return "stuck" if failed >= stuck_after else "failing"

    @property
    def session(self) -> str | None:
        """`session` or `stateless` where the record has the MCP headers the client sent (the programs' records
        do), else None: the hand-written and SDK clients' records do not say."""
        if "session" in self.headers_sent:
            return "session"
        return "stateless" if "discover" in self.headers_sent else None

    @property
    def transport(self) -> str:
        if self.schemes == {"http", "https"}:
            return "starts-http"
        return {frozenset({"http"}): "http-only", frozenset({"https"}): "https-only"}.get(frozenset(self.schemes), "unknown")


def client_truths(records: list[dict[str, Any]], authorization_cases: set[str] = frozenset()) -> list[ClientTruth]:  # type: ignore[assignment]
    """One ClientTruth per (server, case, client), in record order."""
    found: dict[tuple[str, str, str], ClientTruth] = {}
    counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in records:
        key = (r["server"], r["case"], r["client"])
        t = found.setdefault(
            key, ClientTruth(r["server"], r["case"], r["client"], r["source"], authorization=r["case"] in authorization_cases)
        )
        hops = [h for h in r["hops"] if h.get("status") is not None]
        t.blind += any(h.get("status") is None for h in r["hops"])  # an exchange whose answer the client never saw
        t.attempts += 1
        t.connected += bool(r["ok"])
        posts = [h for h in hops if h["method"] == "POST"]
        t.unseen += (not r["ok"]) and bool(posts) and 200 <= posts[-1]["status"] < 300  # failed on a 2xx the log shows
        t.hops.append(hops)
        t.schemes |= {_scheme(h["url"]) for h in hops}
        t.headers_sent |= {"session" for h in r["hops"] if h.get("mcp-session-id")}
        t.headers_sent |= {"discover" for h in r["hops"] if h.get("mcp-method") == "server/discover"}
        if r["error"]:
            t.errors.append(r["error"])
        for code, (rule, _) in ATTEMPT_RULES.items():
            counts[key][code] += rule(hops, bool(r["ok"]))
    for key, t in found.items():
        t.modes = {code for code, (_, repeats) in ATTEMPT_RULES.items() if counts[key][code] >= repeats}
        every = [h for hops in t.hops for h in hops]
        # A GET refused right after a POST's redirect turned it into one is the downgrade, not the method.
        downgraded = {id(n) for hops in t.hops for h, n in _pairs(hops) if n is not None and _downgrade([h, n], False)}
        if any(h["status"] == 405 and _endpoint(h) and h["method"] not in ("GET", "DELETE") for h in every) or (
            not t.connected and any(h["status"] == 405 and _endpoint(h) and id(h) not in downgraded for h in every)
        ):
            t.modes.add("method-not-allowed")
        if any(h["status"] == 401 for h in every) and any(not _endpoint(h) for h in every) and not t.connected:
            t.modes.add("auth-loop")  # 401, then OAuth discovery, and never connected
        if t.authorization and "http" in t.schemes:
            t.modes.add("cleartext-credentials")
    return list(found.values())


def server_truth(truths: Iterable[ClientTruth]) -> set[str]:
    """Findings about the server's policy that its clients saw: HSTS missing, weak, or sent over HTTP."""
    codes = set()
    for t in truths:
        for hop in (h for hops in t.hops for h in hops):
            sts = hop.get("strict-transport-security")
            if _scheme(hop["url"]) == "https" and sts is None:
                codes.add("hsts-missing")
            elif (
                _scheme(hop["url"]) == "https" and sts is not None and (_max_age(sts) < ONE_YEAR or "includesubdomains" not in sts.lower())
            ):
                codes.add("hsts-weak")
            if _scheme(hop["url"]) == "http" and sts is not None:
                codes.add("hsts-over-http")
    return codes


def _max_age(sts: str) -> int:
    for part in sts.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age":
            try:
                return int(value.strip().strip('"'))
            except ValueError:
                return 0
    return 0
