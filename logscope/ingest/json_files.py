"""A JSON-lines file read whole by DuckDB's JSON reader: both cores, only the flavour's columns decoded.

Reading blocks through Arrow's JSON reader costs about 60% of a Caddy log's analysis; DuckDB reads the same
file about four times as fast (docs/performance.md). It is used when its answer can be checked to be the
block path's, line for line:

- the input is a plain file (not compressed, not standard input, not a URL), in a JSON flavour with no text
  before the objects and no container wrapper;
- DuckDB decodes every line without an error. It refuses what the block path would look at line by line:
  invalid JSON, a line that is not one object, two objects on a line, invalid UTF-8, a string where a typed
  number belongs, a key given twice;
- it returns as many rows as the file has lines. DuckDB skips blank lines, so equal counts mean row k is
  line k; a file with blank lines takes the block path, which counts them.

Anything else, and any DuckDB error, hands the file back to the block path (`None`): the answer is the same,
only slower. Refused objects (a JSON object that is no request) are rare; their raw text, for the report's
samples and record names, is read back by line number. Past `MAX_REFUSED` of them the block path takes over,
so memory stays bounded by a batch of rows and the canonical rows kept.

Measured differences from the block path, on values no server writes: a fractional number in a nested integer
(Caddy's `tls.version`) is rounded, and a number or object where a string belongs is written as DuckDB prints
it (`2.0`, `1e-05`, `{"a":1}`, where Polars writes `2`, `0.00001`, `{"a": 1}`). A top-level integer (Caddy's
`status`, `size`) is read as a double, so that a fraction is refused there as on the other paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from ..formats.jsonlines import JsonFormat, as_schema, duckdb_columns
from ..runners.sources import Source, compression_of, iter_blocks, read_ahead
from ..schema import OK, RAW
from .result import ProgressHook
from .threads import in_order_on_threads

BATCH_ROWS = 1 << 17  # rows DuckDB hands over at once: about 70 MB of decoded Caddy rows
MAX_REFUSED = 10_000  # JSON objects that are no request, kept until their raw text is read back


class _NotWhole(Exception):
    """DuckDB gave more rows than the file has lines."""


Settle = Callable[[pl.DataFrame], tuple[int, pl.DataFrame | None, pl.DataFrame]]


def readable_whole(src: Source, fmt: object, wrapped: bool, min_bytes: int) -> bool:
    """Whether `src` may be read whole: a plain file of at least `min_bytes`, in a JSON flavour without a prefix
    or a container's wrapper. (Smaller files take the block path: DuckDB's import costs more than it saves.)"""
    if not isinstance(fmt, JsonFormat) or fmt.has_prefix or wrapped or src.path is None or src.url is not None:
        return False
    try:
        if src.path.stat().st_size < min_bytes or not src.path.is_file():
            return False
        with src.path.open("rb") as f:
            return compression_of(f.read(6)) is None
    except OSError:
        return False


def count_lines(src: Source) -> int:
    """The file's lines as the block reader numbers them (blank ones too, a last line without a newline too),
    counted by Polars' CSV scanner on both cores."""
    assert src.path is not None
    scan = pl.scan_csv(
        src.path,
        has_header=False,
        separator="\x01",
        quote_char=None,
        schema={"line": pl.String},
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )
    return int(scan.select(pl.len()).collect().item())


def read_whole(
    src: Source, fmt: JsonFormat, settle: Settle, naive_tz: str = "UTC", progress: ProgressHook | None = None
) -> list[tuple[int, pl.DataFrame | None, pl.DataFrame]] | None:
    """The file's lines settled as the block path settles each block (line count, rejected lines, canonical
    rows), in line order; None when the file must be read in blocks (see the module's docstring)."""
    try:
        import duckdb
    except ImportError:
        return None
    assert src.path is not None
    lines = count_lines(src)
    query = f"select * from read_json(?, format='newline_delimited', columns={duckdb_columns(fmt.schema, fmt.numbers)})"
    settled: list[tuple[int, pl.DataFrame | None, pl.DataFrame]] = []
    refused: list[pl.DataFrame] = []
    rows = settled_lines = refused_rows = 0

    def parse(numbered: tuple[int, pl.DataFrame]) -> tuple[pl.DataFrame, tuple[int, pl.DataFrame | None, pl.DataFrame]]:
        first_line, decoded = numbered
        parsed = fmt.parse_decoded(as_schema(decoded, fmt.schema), first_line, naive_tz).collect()
        ok = parsed[OK]
        return parsed.filter(~ok), settle(parsed if ok.all() else parsed.filter(ok))

    def batches(reader: Iterator[Any]) -> Iterator[tuple[int, pl.DataFrame]]:
        nonlocal rows
        for batch in reader:
            decoded = pl.from_arrow(batch)
            if not isinstance(decoded, pl.DataFrame) or rows + decoded.height > lines:
                raise _NotWhole
            yield rows + 1, decoded
            rows += decoded.height

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # it writes to standard output, where `--json -` goes
        reader = con.sql(query, params=[str(src.path)]).to_arrow_reader(BATCH_ROWS)
        for bad, result in in_order_on_threads(parse, read_ahead(batches(reader), depth=2)):
            settled.append(result)
            settled_lines += result[0] + bad.height
            if bad.height:
                refused.append(bad)
                refused_rows += bad.height
                if refused_rows > MAX_REFUSED:
                    return None
            if progress is not None:
                progress(src.name, settled_lines)
    except (duckdb.Error, _NotWhole):
        return None
    finally:
        con.close()
    if rows != lines:
        return None
    if refused:
        settled.append(settle(_with_raw_text(src, pl.concat(refused))))
    return settled


def _with_raw_text(src: Source, refused: pl.DataFrame) -> pl.DataFrame:
    """Refused rows with their lines' text, read back by line number."""
    wanted = refused["line"].implode()
    texts = [block.frame.filter(pl.col("line").is_in(wanted)) for block in iter_blocks(src)]
    return refused.drop(RAW).join(pl.concat(texts), on="line", how="left").select(refused.columns)
