"""`logscope check URL`: test an MCP endpoint now, from outside, the way its clients connect, and say what is
wrong in the words and codes of `analyze` (one catalogue: data/fixes.toml).

    from logscope.check import CheckOptions, check
    result = check(["https://mcp.example.net/mcp"], CheckOptions(tries=4))
    result.findings_at_or_above("high")

Only the hosts given (and `allow_hosts`) are contacted; a redirect elsewhere is reported, not followed.
Credentials are sent only as `headers` give them, never to the plain-HTTP twin of an https:// URL, and never
recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..choices import SEVERITIES
from ..detectors.registry import severity_rank
from ..errors import LogscopeError
from .exchange import Prober, parse_header
from .steps import Steps, Target

__all__ = ["CheckOptions", "CheckResult", "Target", "check", "check_json", "check_schema"]


@dataclass(frozen=True)
class CheckOptions:
    timeout: float = 10.0  # seconds, for each request
    tries: int = 4  # tools/list requests with one session: enough to meet each of 2-3 round-robin replicas
    cacert: str | None = None
    insecure: bool = False
    headers: tuple[str, ...] = ()  # 'Name: value', sent to the URLs given
    allow_hosts: tuple[str, ...] = ()  # other hosts a redirect or the OAuth metadata may send the check to

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout, int | float) and math.isfinite(self.timeout) and self.timeout > 0):
            raise LogscopeError(f"--timeout takes seconds above 0, not {self.timeout}")
        if not 1 <= self.tries <= 50:
            raise LogscopeError(f"--tries takes 1 to 50, not {self.tries}")
        if self.cacert is not None and self.insecure:
            raise LogscopeError("--cacert and --insecure do not go together")
        for header in self.headers:
            parse_header(header)


@dataclass
class CheckResult:
    targets: list[Target]
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def findings(self) -> list[Any]:
        return [f for t in self.targets for f in t.findings]

    def findings_at_or_above(self, severity: str) -> list[Any]:
        return [f for f in self.findings if severity_rank(f.severity) <= severity_rank(severity)]

    @property
    def errors(self) -> list[str]:
        return [f"{t.url}: {t.error}" for t in self.targets if t.error]


def endpoint_url(text: str) -> str:
    """An http:// or https:// URL with a host, as given; anything else is the operator's error, in one line."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LogscopeError(f"check takes http:// or https:// URLs of an MCP endpoint, not {text!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise LogscopeError(f"{text!r}: {exc}") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def check(urls: list[str], options: CheckOptions | None = None) -> CheckResult:
    """Check each URL: plain HTTP first (the URL given, or the http:// twin of an https:// one on the default port),
    then MCP over HTTPS (or over the plain HTTP it is served on)."""
    options = options or CheckOptions()
    endpoints = [endpoint_url(u) for u in urls]
    if not endpoints:
        raise LogscopeError("check needs at least one URL")
    headers = dict(parse_header(h) for h in options.headers)
    verify: bool | str = False if options.insecure else (options.cacert or True)
    prober = Prober(timeout=options.timeout, verify=verify, headers=headers)
    targets = []
    try:
        for url in endpoints:
            target = Target(url)
            steps = Steps(prober, target, options.allow_hosts, options.tries)
            parts = urlsplit(url)
            if parts.scheme == "http":
                next_url = steps.plain_http(url, given=True)
            else:
                if parts.port is None:  # the plain-HTTP twin a client might be given, on the default port
                    steps.plain_http(urlunsplit(("http", parts.netloc, parts.path, parts.query, "")), given=False)
                next_url = url
            if next_url and not target.error:
                steps.mcp(next_url)
            targets.append(target)
    finally:
        prober.close()
    return CheckResult(targets)


def check_json(result: CheckResult) -> dict[str, Any]:
    """The check as JSON (data/check.schema.json): per URL its findings (the report's layout), facts and exchanges."""
    from ..report.json_report import finding_json
    from ..version import __version__

    return {
        "logscope_version": __version__,
        "checked_at": result.checked_at.isoformat().replace("+00:00", "Z"),
        "targets": [
            {
                "url": t.url,
                "error": t.error,
                "findings": [finding_json(f) for f in t.findings],
                "facts": t.facts,
                "exchanges": [e.to_json() for e in t.exchanges],
            }
            for t in result.targets
        ],
        "totals": {
            "findings": len(result.findings),
            "by_severity": {s: sum(f.severity == s for f in result.findings) for s in SEVERITIES},
            "errors": len(result.errors),
        },
    }


def check_schema() -> dict[str, Any]:
    """The JSON Schema of `check --json`, shipped in the package."""
    import json
    from importlib import resources

    return json.loads(resources.files("logscope.data").joinpath("check.schema.json").read_text("utf-8"))
