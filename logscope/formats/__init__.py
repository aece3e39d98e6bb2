"""Access-log formats: which one an input is in, and the parser for it.

Every format object has `family`, `parse(lines, naive_tz) -> LazyFrame` (canonical columns plus `_ok`
and `_reason` per line) and `describe()` for the report. `detect` picks one from an input's first lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import polars as pl

from ..choices import FAMILIES
from ..errors import FormatError
from ..schema import OK, RAW, REASON
from . import jsonlines, text, w3c
from .nginx_conf import log_format_from_conf
from .text import TextFormat

#: Text some log shippers put before each line; the first that fits most of a sample is stripped.
WRAPPERS = {
    "syslog": r"(?:<\d+>)?(?:[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\S+) (?:\S+ )?[^\s:\[]+(?:\[\d+\])?: ",
    # RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID STRUCTURED-DATA (HAProxy's `log ... format rfc5424`).
    "syslog5424": r"<\d+>1 \S+ \S+ \S+ \S+ \S+ (?:-|\[(?:[^\]\\]|\\.)*\])+ \x{feff}?",
    # A priority alone (HAProxy's `format short` and `format priority`), or a time (`format iso`, `format timed`).
    "priority": r"<\d+>(?:[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} )?",
    "timestamp": r"(?:<\d+>)?\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})? ",
    "docker": r"[\w.-]+\s+\| ",
}
MAX_MIXED = 3  # layouts reported for a file that mixes several
NO_LAYOUT = "matches no known layout"


class LogFormat(Protocol):
    family: str

    @property
    def logged(self) -> frozenset[str]: ...

    @property
    def reads_bytes(self) -> bool:
        """Whether `parse` wants each block's bytes (`payload`) as well as its lines."""
        ...

    @property
    def label(self) -> str: ...

    def parse(self, lines: pl.LazyFrame, naive_tz: str = "UTC", payload: bytes | None = None) -> pl.LazyFrame:
        """Canonical columns plus `_ok`/`_reason` for each line. `payload`, when given, is the lines'
        bytes as read (newline-separated), for a decoder that can read them directly."""
        ...

    def describe(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class MixedText:
    """Text layouts tried in turn: each line is parsed by the first one it matches.

    `layouts` are those detected in the input's first lines; `fallbacks` (the other known layouts)
    catch lines further on that a server wrote in another layout, before a line is called rejected.
    """

    layouts: tuple[TextFormat, ...]
    fallbacks: tuple[TextFormat, ...] = ()
    primary: int = 0  # the layout most lines are in, reported as the input's log_format
    reads_bytes = False  # text layouts match lines

    @property
    def family(self) -> str:
        return self.layouts[self.primary].family

    @property
    def label(self) -> str:
        return " + ".join(f.label for f in self.layouts)

    @property
    def logged(self) -> frozenset[str]:
        # Only what every detected layout records can be read as absent when null.
        return frozenset.intersection(*(f.logged for f in self.layouts))

    def parse(self, lines: pl.LazyFrame, naive_tz: str = "UTC", payload: bytes | None = None) -> pl.LazyFrame:
        parsed = self.layouts[0].parse(lines, naive_tz).collect()
        if parsed[OK].all():
            return parsed.lazy()
        # A line a layout matched but refused for a field (a timestamp in 1970) keeps that reason when no other
        # layout takes it: it says more than "matches no known layout".
        specific = parsed.filter(~pl.col(OK) & ~pl.col(REASON).str.starts_with("does not match")).select(
            "line", pl.col(REASON).alias("_first")
        )
        for layout in (*self.layouts[1:], *self.fallbacks):
            failed = parsed.filter(~pl.col(OK))
            if failed.height == 0:
                break
            retry = layout.parse(failed.select(RAW, "line").lazy(), naive_tz).collect()
            parsed = pl.concat([parsed.filter(pl.col(OK)), retry], how="diagonal_relaxed")
        unmatched = ~pl.col(OK) & pl.col(REASON).str.starts_with("does not match")
        reason = pl.when(unmatched).then(pl.coalesce("_first", pl.lit(NO_LAYOUT))).otherwise(pl.col(REASON))
        parsed = (
            parsed.join(specific, on="line", how="left")
            if specific.height
            else parsed.with_columns(pl.lit(None, pl.String).alias("_first"))
        )
        return parsed.lazy().with_columns(reason.alias(REASON)).drop("_first").sort("line")

    def describe(self) -> dict[str, object]:
        main = self.layouts[self.primary].describe()
        if len(self.layouts) == 1:
            return main
        mixed = [f.describe() for f in self.layouts]
        return {**main, "log_format_name": self.label, "mixed": mixed, "logged": sorted(self.logged)}


@dataclass(frozen=True)
class FormatChoice:
    """What the operator asked for; `resolve` turns it into a format per input."""

    family: str = "auto"
    log_format: str | None = None  # nginx/Apache format text or a preset name
    nginx_conf: Path | None = None
    log_format_name: str | None = None
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise FormatError(f"unknown --format {self.family!r}: choose one of {', '.join(FAMILIES)}")
        jsonlines.parse_field_overrides(self.fields)  # fail on a malformed --field before reading anything


#: The name of the layout read when --nginx-conf defines no log_format: nginx then writes `combined`.
NGINX_DEFAULT = "combined (nginx's default: the config defines no log_format)"


def _explicit_text(choice: FormatChoice) -> tuple[str, str | None] | None:
    """The layout the operator gave (its text, and a name to report it by), or None."""
    if choice.nginx_conf is not None:
        directive = log_format_from_conf(choice.nginx_conf, choice.log_format_name)
        unnamed = directive.name == "combined" and choice.log_format_name is None
        return directive.format, NGINX_DEFAULT if unnamed else directive.name
    return (choice.log_format, None) if choice.log_format is not None else None


def _with_wrapper(fmt: TextFormat, wrapper: str | None) -> TextFormat:
    if wrapper is None:
        return fmt
    return replace(fmt, name=f"{fmt.label}, {wrapper}-wrapped", prefix=WRAPPERS[wrapper])


def _detect_text(lines: pl.DataFrame, layouts: Sequence[TextFormat], fallbacks: bool = False) -> LogFormat | None:
    found = _match_text(lines, layouts, fallbacks)
    if found is None:
        return None
    sample = lines[RAW].to_list()
    if isinstance(found, TextFormat):
        return found.fitted(sample)
    return replace(found, layouts=tuple(f.fitted(sample) for f in found.layouts))


def _match_text(lines: pl.DataFrame, layouts: Sequence[TextFormat], fallbacks: bool = False) -> LogFormat | None:
    """The layouts that match the sample lines, wrapped or not.

    `layouts` are in order of preference, most specific first (combined before common, which also
    matches combined lines): each sample line counts for the first layout it matches, and lines are
    later parsed in that same order, so no line loses fields to a more general layout.
    """
    candidates = [_with_wrapper(f, w) for w in (None, *WRAPPERS) for f in layouts]
    matches = lines.select([c.match_expr().alias(str(i)) for i, c in enumerate(candidates)])
    first = matches.select(pl.coalesce([pl.when(pl.col(str(i))).then(pl.lit(i)) for i in range(len(candidates))]).alias("i"))
    counts = dict(first.drop_nulls().group_by("i").len().iter_rows())
    if not counts:
        return None
    # Keep the layouts that explain a line each, most frequent first (equal counts: preference order,
    # never the group-by's order, which varies from run to run), in preference order to parse.
    kept = sorted(sorted(counts, key=lambda i: (-counts[i], i))[:MAX_MIXED])
    chosen = tuple(candidates[i] for i in kept)
    primary = max(kept, key=lambda i: counts[i])
    rest: tuple[TextFormat, ...] = ()
    if fallbacks:
        wrapper_index = primary // len(layouts)
        rest = tuple(c for c in candidates[wrapper_index * len(layouts) : (wrapper_index + 1) * len(layouts)] if c not in chosen)
    if len(chosen) == 1 and not rest:
        return chosen[0]
    return MixedText(chosen, rest, primary=chosen.index(candidates[primary]))


def _detect_json(sample: Sequence[str], choice: FormatChoice, family: str) -> LogFormat | None:
    keys, objects, prefixed = jsonlines.sample_keys(sample)
    if objects == 0 or (family == "auto" and objects * 2 < len(sample)):
        return None  # not JSON lines (or only cut or broken ones): nothing to map
    caddy_keys = "request.uri" in keys or "request.method" in keys or "logger" in keys
    if family == "caddy" or (family == "auto" and caddy_keys):
        return jsonlines.caddy_format(prefixed)
    if family in ("auto", "traefik") and (
        family == "traefik" or len({"DownstreamStatus", "RequestMethod", "RequestPath", "ClientHost"} & keys) >= 2
    ):
        return jsonlines.traefik_format(prefixed, keys)
    flavour = jsonlines.flavour_for(keys, family)
    if flavour is not None:
        return jsonlines.flavour_format(flavour, prefixed, keys)
    if family in ("auto", "json"):
        mapping = jsonlines.generic_mapping(keys, jsonlines.parse_field_overrides(choice.fields))
        if family == "json" or ("status" in mapping and ({"request", "request_uri", "uri"} & mapping.keys())):
            return jsonlines.generic_format(mapping, prefixed)
    return None


def text_fallback(fmt: LogFormat) -> LogFormat | None:
    """For an edge's JSON log, its text layouts: a line of the other kind in the same file (Envoy writes both,
    one listener in JSON, another in text) is read by them instead of being rejected as not JSON."""
    if not isinstance(fmt, jsonlines.JsonFormat) or fmt.traits is None or fmt.traits.edge is None:
        return None
    layouts = tuple(f for f in text.presets().values() if f.family == fmt.family)
    return MixedText(layouts) if layouts else None


def resolve(choice: FormatChoice, sample: Sequence[str]) -> LogFormat | None:
    """The format for an input whose first non-blank lines are `sample`; None when nothing fits."""
    given = _explicit_text(choice)
    if given is not None:
        explicit, name = given
        body = explicit.strip()
        if body.startswith("{"):  # an nginx escape=json format: its template names the JSON keys
            mapping = {**jsonlines.template_mapping(body), **jsonlines.parse_field_overrides(choice.fields)}
            _, _, prefixed = jsonlines.sample_keys(sample)
            return jsonlines.generic_format(mapping, prefixed)
        layout = text.text_format(explicit)
        if name is not None and layout.name is None:
            layout = replace(layout, name=name)
        frame = pl.DataFrame({RAW: list(sample)}, schema={RAW: pl.String})
        # Accept a syslog/docker wrapper around the operator's layout if the lines carry one.
        return _detect_text(frame, [layout]) or layout
    if choice.family in ("caddy", "traefik", "json", "cloudflare", "gcp-lb", "azure") or (
        choice.family == "envoy" and any(line.lstrip().startswith("{") for line in sample)
    ):
        return _detect_json(sample, choice, choice.family)
    if choice.family in ("auto", "w3c", "cloudfront"):
        header_driven = w3c.detect(sample)
        if header_driven is not None or choice.family != "auto":
            return header_driven
    if choice.family == "auto":
        found = _detect_json(sample, choice, "auto")
        if found is not None:
            return found
    frame = pl.DataFrame({RAW: list(sample)}, schema={RAW: pl.String})
    layouts = list(text.presets().values())
    if choice.family not in ("auto", "nginx", "apache"):  # an edge's family: only its own layouts
        layouts = [f for f in layouts if f.family == choice.family]
    return _detect_text(frame, layouts, fallbacks=True)


__all__ = ["FAMILIES", "FormatChoice", "LogFormat", "MixedText", "resolve", "text_fallback"]
