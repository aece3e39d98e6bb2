"""What a format says about the system that wrote it, beside its fields: which family and edge, when a
line's time is stamped, and how a line shows who answered the request (the edge itself, or the server
behind it). Read from the formats' data files (`text_formats.toml`, `json_formats.toml`, `w3c_fields.toml`),
so a contributor adds an edge there without touching the parsers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..errors import FormatError

#: One way a line shows who answered: every (variable, regex) of a condition matches.
Condition = tuple[tuple[str, str], ...]
ANSWERED = ("edge", "origin")


@dataclass(frozen=True)
class Traits:
    family: str = "nginx"  # the `format` an input is reported in
    edge: str | None = None  # the system in front of the server that wrote the log (aws-alb, haproxy, ...)
    time_is: str | None = None  # "start" or "end": when a line's time was taken; None: the parser decides
    #: The line logs when the request started and how long it took, and is written when it ended: its time is the
    #: start plus the duration (HAProxy, Envoy). Ordered by their ends, requests keep the order of the log, which
    #: several threads' clocks (HAProxy's) can invert by a millisecond at the start.
    end_from_duration: bool = False
    #: How far apart the clocks that stamp the lines can be (HAProxy: each thread keeps its own, updated when it
    #: wakes up): a client's request logged after another but starting up to this much before it is ordered after it.
    clock_jitter_ms: float = 0.0
    #: Request targets are absolute URLs (`GET http://host:80/mcp HTTP/1.1`): scheme, host and port are read from them.
    absolute_urls: bool = False
    #: Listener ports that tell the scheme where nothing else does (Envoy Gateway's 10080 and 10443).
    scheme_ports: tuple[tuple[int, str], ...] = ()
    #: "edge" / "origin" -> conditions, any of which says so (edge is tested first).
    answered: tuple[tuple[str, tuple[Condition, ...]], ...] = ()
    #: Where the client address comes from when it is not the peer's ("x-forwarded-for": Envoy's default format).
    client_from: str | None = None
    #: Lines the layout fits that are no request (Envoy's TCP connections): (what they are, conditions).
    non_request: tuple[tuple[str, tuple[Condition, ...]], ...] = ()

    @property
    def reads(self) -> frozenset[str]:
        """The variables the rules read (who answered, what is no request): a layout matches its other `_`
        variables without capturing them."""
        rules = (*self.answered, *self.non_request)
        return frozenset(var for _, conditions in rules for condition in conditions for var, _ in condition)

    def describe(self, present: Iterable[str]) -> dict[str, object]:
        """What the report says of the edge, for a format with the variables `present`."""
        out: dict[str, object] = {}
        if self.edge:
            out["edge"] = self.edge
        if self.client_from:
            out["client_from"] = self.client_from
        if self.clock_jitter_ms:
            out["clock_jitter_ms"] = self.clock_jitter_ms
        names = set(present)
        if any(all(var in names for var, _ in c) for _, conditions in self.answered for c in conditions):
            out["answered_by_logged"] = True
        return out


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise FormatError(f"{where} must be a list of {{variable = regex}} tables")
    return tuple(tuple(sorted(c.items())) for c in value)


def _matches(conditions: tuple[Condition, ...], present: set[str]) -> pl.Expr | None:
    """Whether any condition holds (all its variables' text matching); None when none can be tested."""
    tests = [
        pl.all_horizontal([pl.col(var).fill_null("").str.contains(regex) for var, regex in condition])
        for condition in conditions
        if all(var in present for var, _ in condition)
    ]
    return pl.any_horizontal(tests) if tests else None


def traits_from(spec: Mapping[str, Any], default_family: str = "nginx") -> Traits:
    """Traits from a format's table in a data file (keys: family, edge, time_is, end_from_duration, clock_jitter_ms,
    absolute_urls, scheme_ports, answered_by_edge, answered_by_origin, client_from, non_request)."""
    answered = [
        (outcome, _conditions(spec[f"answered_by_{outcome}"], f"answered_by_{outcome}"))
        for outcome in ANSWERED
        if f"answered_by_{outcome}" in spec
    ]
    non_request = [(item["what"], _conditions(item["when"], "non_request.when")) for item in spec.get("non_request", [])]
    time_is = spec.get("time_is")
    if time_is not in (None, "start", "end"):
        raise FormatError(f'time_is must be "start" or "end", not {time_is!r}')
    return Traits(
        family=spec.get("family", default_family),
        edge=spec.get("edge"),
        time_is=time_is,
        end_from_duration=bool(spec.get("end_from_duration", False)),
        clock_jitter_ms=float(spec.get("clock_jitter_ms", 0.0)),
        absolute_urls=bool(spec.get("absolute_urls", False)),
        scheme_ports=tuple(sorted((int(port), scheme) for port, scheme in spec.get("scheme_ports", {}).items())),
        answered=tuple(answered),
        client_from=spec.get("client_from"),
        non_request=tuple(non_request),
    )


def answered_expr(traits: Traits, present: set[str]) -> pl.Expr | None:
    """`answered_by` from the traits' rules over the variables' raw text; None when the format has none."""
    expr: pl.Expr | None = None
    for outcome, conditions in reversed(traits.answered):  # the first outcome listed wins
        hit = _matches(conditions, present)
        if hit is not None:
            expr = pl.when(hit).then(pl.lit(outcome)).otherwise(expr if expr is not None else pl.lit(None, pl.String))
    return expr


def non_request_expr(traits: Traits, present: set[str]) -> pl.Expr | None:
    """What a line the layout fits is when it is no request (null for requests); None when the format says nothing."""
    expr: pl.Expr | None = None
    for what, conditions in reversed(traits.non_request):
        hit = _matches(conditions, present)
        if hit is not None:
            expr = pl.when(hit).then(pl.lit(what)).otherwise(expr if expr is not None else pl.lit(None, pl.String))
    return expr
