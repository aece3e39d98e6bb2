"""Parsing: each input read in blocks, its format detected from its first lines, every block parsed
with vectorised expressions into canonical rows, each line parsed or rejected with a reason."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..formats import FormatChoice, LogFormat, containers, resolve, text_fallback
from ..formats.containers import Container
from ..formats.fields import redact_frame, redact_text
from ..formats.jsonlines import NOT_JSON
from ..formats.records import name_records
from ..runners.sources import BLOCK_BYTES, Block, ReadBudget, Source, expand_inputs, iter_blocks, iter_range, read_ahead
from ..schema import CANONICAL, OK, RAW, REASON, RECORD, REDACTED_COLUMNS, conform, per_distinct
from .json_files import read_whole, readable_whole
from .result import Ingest, InputReport, ProgressHook, RejectedLine, merge_in_time_order
from .stores import is_store, read_store
from .threads import in_order_on_threads

SAMPLE_LINES = 200  # first non-blank lines used to detect a format
MAX_REJECTED_SAMPLES = 5
MAX_SAMPLE_CHARS = 500
BLANK = "blank line"
CHECK_AGENT = "logscope-check/"  # the User-Agent of `logscope check` (check/exchange.py)
OWN_CHECK = "logscope check's own request"


def _sample(frame: pl.DataFrame) -> list[str]:
    lines = frame.lazy().filter(pl.col(RAW).str.strip_chars() != "").head(SAMPLE_LINES).collect()
    return lines[RAW].to_list()


def _account(report: InputReport, lines: int, rejected: pl.DataFrame | None) -> None:
    """Count a block's lines into the report, with the reasons and a few samples of its rejected lines, and
    its non-request records (the refused lines that name what they are) by kind."""
    report.lines += lines
    if rejected is None:
        report.parsed += lines
        return
    records = rejected.filter(pl.col(RECORD).is_not_null())
    if records.height:
        rejected = rejected.filter(pl.col(RECORD).is_null())
        report.non_request += records.height
        for what, count in records.group_by(RECORD).len().iter_rows():
            report.non_request_kinds[what] = report.non_request_kinds.get(what, 0) + count
    report.rejected += rejected.height
    report.parsed += lines - rejected.height - records.height
    for reason, count in rejected.group_by(REASON).len().iter_rows():
        report.rejected_reasons[reason] = report.rejected_reasons.get(reason, 0) + count
    room = MAX_REJECTED_SAMPLES - len(report.rejected_samples)
    for line, reason, text in rejected.head(max(room, 0)).select("line", REASON, RAW).iter_rows():
        report.rejected_samples.append(RejectedLine(int(line), reason, redact_text(text[:MAX_SAMPLE_CHARS])))


@dataclass
class InputParser:
    """One input's lines, parsed in blocks into canonical rows and counted into its report: the step both
    `read_logs` and `logscope watch` take for every block."""

    report: InputReport
    fmt: LogFormat
    naive_tz: str = "UTC"
    container: Container | None = None  # a container runtime's wrapper around each line (CRI, Docker json-file)
    fallback: LogFormat | None = None  # for lines of the other kind in an edge's JSON log (its text layouts)

    def __post_init__(self) -> None:
        if self.fallback is None:
            self.fallback = text_fallback(self.fmt)

    @classmethod
    def detect(cls, name: str, choice: FormatChoice, sample: list[str], naive_tz: str = "UTC") -> InputParser:
        """The parser for an input whose first lines are `sample`; InputError when no format fits them."""
        wrapper = containers.detect(sample)
        container = Container(wrapper) if wrapper is not None else None
        if container is not None:
            sample = [line for line in container.unwrap_lines(sample) if line.strip()]
        fmt: LogFormat | None = resolve(choice, sample)
        if fmt is None and choice.family not in ("auto", "nginx", "apache"):
            raise InputError(f"{name}: its first {len(sample)} lines are not in the {choice.family} format (--format {choice.family})")
        if fmt is None:
            raise InputError(
                f"{name}: no known access-log format in its first {len(sample)} lines (name it with --format, --log-format or --nginx-conf)"
            )
        report = InputReport(path=name)
        report.format = fmt.family
        report.format_detail = fmt.describe()
        if report.format_detail.get("client_from") == "x-forwarded-for":
            report.notes.append("the log records no peer address: each client is X-Forwarded-For's first address")
        if container is not None:
            report.format_detail["container"] = container.kind
            if container.kind == "records":
                report.notes.append('its lines are {"records": [...]} blobs: lines, parsed and rejected count the records in them')
        missing = report.format_detail.get("missing_fields") or {}
        if missing:  # said once per input, and the analysis goes on with what is there
            fields = ", ".join(f"{key} (for {column})" for column, key in missing.items())  # type: ignore[union-attr]
            report.notes.append(f"the log lacks {fields}: add them to what it records; what needs them is left unknown")
        return cls(report, fmt, naive_tz, container)

    def prepare(self, block: Block, final: bool = False) -> Block:
        """The block with what is carried from the blocks before it (a container's wrapper taken off, a long
        line's pieces joined, a W3C header in effect): called on an input's blocks in order, before they are
        parsed (perhaps two at once). `final`: the input's last block (pieces of an unended line are kept)."""
        if self.container is not None:
            frame, joined = self.container.unwrap(block.frame, final)
            block = Block(frame, block.lossy, joined=joined)
        prepare = getattr(self.fmt, "prepare", None)
        return prepare(block) if prepare is not None else block

    @property
    def splittable(self) -> bool:
        """Whether the input can be parsed in byte ranges apart: nothing is carried from one block to the next."""
        return self.container is None and getattr(self.fmt, "prepare", None) is None

    def rest(self) -> Iterator[Block]:
        """What `prepare` still holds when the input ends (pieces of a line never ended), as a last block."""
        if self.container is not None and self.container.pending is not None:
            empty = pl.DataFrame(schema={RAW: pl.String, "line": pl.UInt64})
            yield self.prepare(Block(empty, False), final=True)

    def parse(self, block: Block) -> tuple[int, pl.DataFrame | None, pl.DataFrame]:
        """The block's line count, its rejected lines (None when there are none) and its canonical rows."""
        payload = block.payload if self.fmt.reads_bytes else None
        parsed = self.fmt.parse(block.frame.lazy(), self.naive_tz, payload=payload).collect()
        if self.fallback is not None and not parsed[OK].all():
            other = (parsed[REASON] == NOT_JSON).fill_null(False)
            if other.any():
                retry = self.fallback.parse(parsed.filter(other).select(RAW, "line").lazy(), self.naive_tz).collect()
                parsed = pl.concat([parsed.filter(~other), retry], how="diagonal_relaxed").sort("line")
        return self.settle(parsed, block.joined)

    def settle(self, parsed: pl.DataFrame, joined: int = 0) -> tuple[int, pl.DataFrame | None, pl.DataFrame]:
        """Parsed lines (OK, REASON, RECORD and the raw text of each refused one) into the line count, the
        rejected lines (None when there are none) and the canonical rows."""
        if parsed[OK].all():  # the usual block: no copy of its (wide, raw-text) rows
            rejected, good = None, parsed
        else:
            # Blank lines are told apart among the refused ones only: a strip of every line costs.
            blank = pl.when(pl.col(RAW).str.strip_chars() == "").then(pl.lit(BLANK)).otherwise(pl.col(REASON))
            refused = name_records(parsed.filter(~pl.col(OK)))
            rejected, good = refused.with_columns(blank.alias(REASON)), parsed.filter(pl.col(OK))
        canonical = conform(good).with_columns(pl.lit(self.report.path, dtype=CANONICAL["source"]).alias("source")).collect()
        canonical, rejected = _set_aside_own_checks(canonical, rejected)
        # Credentials in query strings never get past ingest, so no output can show them.
        return parsed.height + joined, rejected, _compact_text(redact_frame(canonical, REDACTED_COLUMNS))

    def account(self, block: Block, lines: int, rejected: pl.DataFrame | None) -> None:
        self.report.invalid_utf8 |= block.lossy
        self.count(lines - block.joined, rejected)
        if block.joined and self.container is not None:
            what = containers.PIECE[self.container.kind]
            self.report.lines += block.joined
            self.report.non_request += block.joined
            self.report.non_request_kinds[what] = self.report.non_request_kinds.get(what, 0) + block.joined

    def count(self, lines: int, rejected: pl.DataFrame | None) -> None:
        """Count lines into the report, with the reasons and samples of the rejected ones."""
        _account(self.report, lines, rejected)


def _set_aside_own_checks(canonical: pl.DataFrame, rejected: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """`logscope check`'s own requests (its User-Agent) counted as non-request records: the operator's test, not a
    client, whose deliberate mistakes (a GET after a redirect, a narrow Accept) must not become findings."""
    own = per_distinct(canonical["user_agent"], lambda ua: ua.str.starts_with(CHECK_AGENT)).fill_null(False)
    if not own.any():
        return canonical, rejected
    records = canonical.filter(own).select(
        "line", pl.lit("", pl.String).alias(RAW), pl.lit(None, pl.String).alias(REASON), pl.lit(OWN_CHECK).alias(RECORD)
    )
    together = records if rejected is None else pl.concat([rejected, records], how="diagonal_relaxed")
    return canonical.filter(~own), together


def _read_input(
    src: Source,
    choice: FormatChoice,
    naive_tz: str,
    block_bytes: int,
    progress: ProgressHook | None,
    keep: Callable[[pl.DataFrame], None],
    budget: ReadBudget | None = None,
) -> InputReport:
    """Parse one input block by block, handing each block's canonical rows to `keep`."""
    notes: list[str] = []
    blocks = read_ahead(iter_blocks(src, block_bytes, notes, budget))
    first = next(blocks, None)
    sample = _sample(first.frame) if first is not None else []
    if not sample:
        report = InputReport(path=src.name)
        report.notes = [*notes, "empty input: no log lines"]
        return report
    parser = InputParser.detect(src.name, choice, sample, naive_tz)
    notes.extend(parser.report.notes)  # the reader's list: it adds to it while the blocks are read
    parser.report.notes = notes

    if readable_whole(src, parser.fmt, parser.container is not None, min_bytes=block_bytes):
        whole = read_whole(src, parser.fmt, parser.settle, naive_tz, progress)  # type: ignore[arg-type]
        if whole is not None:
            blocks.close()  # the block reader's thread stops
            for lines, rejected, canonical in whole:
                parser.count(lines, rejected)
                keep(canonical)
            return parser.report

    def parse(block: Block) -> tuple[Block, int, pl.DataFrame | None, pl.DataFrame]:
        return block, *parser.parse(block)

    prepared = chain(map(parser.prepare, chain([first], blocks)), parser.rest())
    for block, lines, rejected, canonical in in_order_on_threads(parse, prepared):
        parser.account(block, lines, rejected)
        keep(canonical)
        if progress is not None:
            progress(src.name, parser.report.lines)
    return parser.report


def _compact_text(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its text columns copied into buffers of their own.

    A string cut out of a line (by a regex, or by Arrow's JSON reader) can point into the buffer of the
    whole block it came from, which then stays in memory as long as the frame does: for Caddy's JSON,
    about 180 bytes a request. A round trip through Arrow's contiguous layout copies just the values.
    """
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String and frame[c].null_count() < frame.height]
    return frame.with_columns(pl.Series(c, frame[c].to_arrow(), dtype=pl.String) for c in text) if text else frame


def read_logs(
    inputs: Sequence[str | Path] | str | Path,
    choice: FormatChoice | None = None,
    *,
    naive_tz: str = "UTC",
    block_bytes: int = BLOCK_BYTES,
    progress: ProgressHook | None = None,
    budget: ReadBudget | None = None,
) -> Ingest:
    """Parse access logs (paths, globs, `-` for stdin; gzip read directly) into one canonical frame.

    Raises `InputError` (one line, naming the input) for missing, unreadable, truncated, empty or
    unrecognised inputs. An empty input among others with data is reported, not fatal. With a `budget`,
    compressed inputs that read as more than it raise `TooLargeToReadWhole` (logscope.runners.shards.whole_read_budget).
    """
    specs: Iterable[str | Path] = [inputs] if isinstance(inputs, (str, Path)) else inputs
    specs = [str(s) for s in specs]
    if len(specs) == 1 and is_store(Path(specs[0])):
        return read_store(Path(specs[0]))  # converted earlier: no parsing
    frames: list[pl.DataFrame] = []
    reports = parse_inputs(specs, choice, naive_tz=naive_tz, block_bytes=block_bytes, progress=progress, keep=frames.append, budget=budget)
    return Ingest(requests=merge_in_time_order(frames), inputs=reports)


def parse_inputs(
    specs: Sequence[str],
    choice: FormatChoice | None,
    *,
    naive_tz: str,
    block_bytes: int,
    progress: ProgressHook | None,
    keep: Callable[[pl.DataFrame], None],
    budget: ReadBudget | None = None,
) -> list[InputReport]:
    """Parse every input in order, handing each block's canonical rows to `keep`; one report per input."""
    sources = expand_inputs(specs)
    choice = choice or FormatChoice()
    reports = [_read_input(src, choice, naive_tz, block_bytes, progress, keep, budget) for src in sources]
    check_not_empty(reports)
    return reports


def read_input(src: Source, choice: FormatChoice, naive_tz: str, keep: Callable[[pl.DataFrame], None]) -> InputReport:
    """Parse one input (a file; not standard input) block by block into `keep`: the step a cluster's
    worker runs per input. `check_not_empty` then looks at all inputs' reports."""
    return _read_input(src, choice, naive_tz, BLOCK_BYTES, None, keep)


def detect_input(src: Source, choice: FormatChoice, naive_tz: str) -> InputParser | None:
    """The parser of an input, from the first lines of its first block as `read_logs` detects it; None
    for an empty input."""
    first = next(iter_blocks(src), None)
    sample = _sample(first.frame) if first is not None else []
    return InputParser.detect(src.name, choice, sample, naive_tz) if sample else None


def read_range(
    src: Source, fmt: LogFormat, report: InputReport, naive_tz: str, span: tuple[int, int, int], keep: Callable[[pl.DataFrame], None]
) -> InputReport:
    """Parse one byte range (start, end, its first line's number) of a plain file in the format detected
    for the whole file, into `keep`: that range's report, merged with the others' by `merge_reports`."""
    wrapper = report.format_detail.get("container")
    container = Container(str(wrapper)) if wrapper else None
    parser = InputParser(InputReport(path=report.path, format=report.format, format_detail=report.format_detail), fmt, naive_tz, container)
    # A range starts at a whole line; pieces of a line cut at the range's end are counted, not joined, there.
    for block in chain(map(parser.prepare, iter_range(src, *span)), parser.rest()):
        lines, rejected, canonical = parser.parse(block)
        parser.account(block, lines, rejected)
        keep(canonical)
    return parser.report


def check_not_empty(reports: Sequence[InputReport]) -> None:
    if not any(r.lines for r in reports) or not any(r.format != "unknown" for r in reports):
        names = ", ".join(r.path for r in reports)
        raise InputError(f"{names}: empty input, nothing to analyse")
