"""What ingest gives: the canonical requests of all inputs in log order, and a report per input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import polars as pl

from ..schema import empty_frame


@dataclass
class RejectedLine:
    line: int
    reason: str
    text: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "reason": self.reason, "text": self.text}


@dataclass
class InputReport:
    """What happened to one input: its format, and the fate of each of its lines."""

    path: str
    format: str = "unknown"
    format_detail: dict[str, object] = field(default_factory=dict)
    lines: int = 0
    parsed: int = 0
    rejected: int = 0
    #: Lines that are no request and no error (start-up messages, W3C directives, TCP connections), by what they are.
    non_request: int = 0
    non_request_kinds: dict[str, int] = field(default_factory=dict)
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    rejected_samples: list[RejectedLine] = field(default_factory=list)
    invalid_utf8: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def format_label(self) -> str:
        name = self.format_detail.get("log_format_name")
        return f"{self.format} ({name})" if name else self.format

    def to_json(self) -> dict[str, object]:
        detail = {k: v for k, v in self.format_detail.items() if k != "format" and v is not None}
        return {
            "path": self.path,
            "format": self.format,
            "lines": self.lines,
            "parsed": self.parsed,
            "rejected": self.rejected,
            "non_request": self.non_request,
            **detail,
            "non_request_kinds": dict(sorted(self.non_request_kinds.items(), key=lambda kv: -kv[1])),
            "rejected_reasons": dict(sorted(self.rejected_reasons.items(), key=lambda kv: -kv[1])),
            "rejected_samples": [s.to_json() for s in self.rejected_samples],
            "invalid_utf8_replaced": self.invalid_utf8,
            "notes": self.notes,
        }


def merge_reports(parts: Sequence[InputReport], max_samples: int) -> InputReport:
    """One input's report from the reports of its byte ranges, in file order (each parsed by a worker)."""
    first = parts[0]
    merged = InputReport(path=first.path, format=first.format, format_detail=first.format_detail)
    for part in parts:
        merged.lines += part.lines
        merged.parsed += part.parsed
        merged.rejected += part.rejected
        merged.non_request += part.non_request
        for what, n in part.non_request_kinds.items():
            merged.non_request_kinds[what] = merged.non_request_kinds.get(what, 0) + n
        for reason, n in part.rejected_reasons.items():
            merged.rejected_reasons[reason] = merged.rejected_reasons.get(reason, 0) + n
        merged.rejected_samples.extend(part.rejected_samples[: max(0, max_samples - len(merged.rejected_samples))])
        merged.invalid_utf8 |= part.invalid_utf8
        merged.notes.extend(n for n in part.notes if n not in merged.notes)
    return merged


@dataclass
class Ingest:
    """The canonical request frame of all inputs, in time order, and one report per input."""

    requests: pl.DataFrame
    inputs: list[InputReport]


ProgressHook = Callable[[str, int], None]  # (input name, lines read so far)


def input_position(inputs: Sequence[InputReport]) -> pl.Expr:
    """Each request's input, as its position among the inputs as named (an unknown one last)."""
    order = {r.path: i for i, r in enumerate(inputs)}
    return pl.col("source").replace_strict(order, default=len(order), return_dtype=pl.Int32).alias("input")


def log_order(inputs: Sequence[InputReport]) -> list[pl.Expr]:
    """The order of requests read whole (that of `seq`): time, unknown last; then input; then line."""
    return [pl.col("ts").is_null().alias("_no_time"), pl.col("ts"), input_position(inputs), pl.col("line")]


def merge_in_time_order(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One frame in time order; among equal times, input order (file as named, then line) is kept.

    Sorting a wide frame is the costliest step of ingest, so it is skipped when the blocks already
    come in order, or can be put in order whole (rotated files named newest first).
    """
    frames = [f for f in frames if f.height] or [empty_frame()]
    merged = pl.concat(frames, how="diagonal_relaxed")
    if not merged["ts"].is_sorted(nulls_last=True):
        merged = _in_time_order(frames, merged)
    # A column the logs never fill (no $request_time in `combined`, say) is held as one null value, not
    # one per row.
    empty = [c for c in merged.columns if merged[c].null_count() == merged.height]
    return merged.with_columns(pl.lit(None, merged.schema[c]).alias(c) for c in empty) if merged.height else merged


def _in_time_order(frames: list[pl.DataFrame], merged: pl.DataFrame) -> pl.DataFrame:
    bounds = [(f["ts"].min(), f["ts"].max(), i) for i, f in enumerate(frames)]
    if all(f["ts"].null_count() == 0 and f["ts"].is_sorted() for f in frames):
        ordered = sorted(bounds, key=lambda b: (b[0], b[2]))
        # Blocks that do not overlap can simply be laid end to end; equal edge times would reorder ties.
        if all(prev[1] < nxt[0] for prev, nxt in pairwise(ordered)):
            return pl.concat([frames[b[2]] for b in ordered], how="diagonal_relaxed")
    # A stable sort keeps input order among equal timestamps (nginx logs whole seconds).
    return merged.sort("ts", nulls_last=True, maintain_order=True)
