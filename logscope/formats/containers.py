"""Container log wrappers, taken off before a format is detected and before every block is parsed.

- Kubernetes' CRI (what `/var/log/pods/...` holds on a node): `<RFC 3339 time> <stdout|stderr> <F|P> <line>`,
  a line longer than the runtime's buffer split into `P` (partial) pieces ended by an `F` piece.
- Docker's json-file driver: `{"log": "<line>\\n", "stream": "stdout", "time": "..."}`, a long line split into
  pieces whose `log` does not end in a newline.
- Azure diagnostic settings' `{"records": [...]}` blobs (an Event Hub message, an exported batch): each line
  holds many records, which are read as lines of their own (numbered as the blob's line); an input's counts
  are then of records, and its notes say so.

Lines without the wrapper pass through as they are (a file may mix them). Pieces are joined into the line
they were cut from, numbered as its last piece; the other pieces are counted as non-request records. A
line's pieces split across two blocks are joined too: the unjoined tail of a block waits for the next
(`Container.unwrap` is called on an input's blocks in order).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from ..schema import RAW

CRI = re.compile(r"^\d{4}-\d{2}-\d{2}T\S+ (?:stdout|stderr) [FP] ")
_CRI_PARTS = r"^\d{4}-\d{2}-\d{2}T\S+ (?:stdout|stderr) ([FP]) (.*)$"
_DOCKER = re.compile(r'^\{\s*"log"\s*:\s*".*"stream"\s*:\s*"(?:stdout|stderr)"')
PIECE = {
    "cri": "the first part of a long line (CRI `P`), joined with the rest",
    "docker-json": "the first part of a long line (Docker json-file), joined with the rest",
}
MOST = 0.5  # the share of a sample's lines that must be wrapped


_RECORDS = re.compile(r'^\s*\{\s*"records"\s*:\s*\[')


def detect(sample: Sequence[str]) -> str | None:
    """ "cri", "docker-json" or "records" when most of the sample's lines carry that wrapper."""
    if not sample:
        return None
    for kind, pattern in (("cri", CRI), ("docker-json", _DOCKER), ("records", _RECORDS)):
        if sum(bool(pattern.match(line)) for line in sample) > MOST * len(sample):
            return kind
    return None


def _arrow_records(texts: list[str]) -> tuple[pl.Series, pl.Series] | None:
    """The records of `{"records": [...]}` blobs as JSON texts, and the index of the blob each came from: Arrow's
    JSON reader takes the blobs apart in C++ (no Python per record). None when the blobs do not read together."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pa_json

    try:
        table = pa_json.read_json(pa.BufferReader("\n".join(texts).encode("utf-8")))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if "records" not in table.column_names or table.num_rows != len(texts):
        return None
    lists = table.column("records").combine_chunks()
    if not pa.types.is_list(lists.type) or not pa.types.is_struct(lists.type.value_type):
        return None
    parents = pl.Series("_blob", pc.list_parent_indices(lists), dtype=pl.UInt32)
    values = pl.from_arrow(pc.list_flatten(lists))
    assert isinstance(values, pl.Series)
    return values.struct.json_encode(), parents


def _records(frame: pl.DataFrame) -> pl.DataFrame:
    """Lines with their blobs' records in place of each blob, numbered as the blob; a blob that does not read
    (cut, invalid) stays a line of its own, which the format then rejects."""
    wrapped = frame[RAW].str.contains(_RECORDS.pattern)
    blobs = frame.filter(wrapped)
    if blobs.height == 0:
        return frame
    parts = [frame.filter(~wrapped)]

    def take(chunk: pl.DataFrame) -> None:
        found = _arrow_records(chunk[RAW].to_list())
        if found is not None:
            texts, parents = found
            parts.append(pl.DataFrame({RAW: texts, "line": chunk["line"].gather(parents)}))
        elif chunk.height == 1:
            parts.append(chunk)
        else:  # bisect: the cost grows with the bad blobs only
            take(chunk[: chunk.height // 2])
            take(chunk[chunk.height // 2 :])

    take(blobs)
    return pl.concat(parts, how="vertical_relaxed").sort("line", maintain_order=True)


def _split(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Each line's inner text (`raw`) and whether it ends a line (`_end`); unwrapped lines end themselves."""
    raw = pl.col(RAW)
    if kind == "records":
        return _records(frame).with_columns(pl.lit(True).alias("_end"))
    if kind == "cri":
        parts = raw.str.extract_groups(_CRI_PARTS)
        flag, text = parts.struct.field("1"), parts.struct.field("2")
        return frame.with_columns(pl.coalesce(text, raw).alias(RAW), (flag != "P").fill_null(True).alias("_end"))
    log = raw.str.json_path_match("$.log")
    wrapped = raw.str.contains(r'^\{\s*"log"\s*:') & log.is_not_null()
    ended = log.str.ends_with("\n")
    text = log.str.strip_suffix("\n").str.strip_suffix("\r")
    return frame.with_columns(
        pl.when(wrapped).then(text).otherwise(raw).alias(RAW), pl.when(wrapped).then(ended).otherwise(pl.lit(True)).alias("_end")
    )


@dataclass
class Container:
    kind: str  # "cri" or "docker-json"
    #: The last block's pieces of a line not yet ended (raw text, line numbers), joined with the next block's.
    pending: pl.DataFrame | None = field(default=None, repr=False)

    def unwrap_lines(self, lines: Sequence[str]) -> list[str]:
        """The sample's lines unwrapped (for detection), pieces joined."""
        frame = pl.DataFrame({RAW: list(lines), "line": range(len(lines))}, schema={RAW: pl.String, "line": pl.UInt64})
        joined, _ = self._join(_split(frame, self.kind))
        return joined[RAW].to_list()

    def unwrap(self, frame: pl.DataFrame, final: bool = False) -> tuple[pl.DataFrame, int]:
        """A block's lines unwrapped and joined, and how many pieces were joined into others. The block's
        unended tail waits for the next block, unless `final`."""
        split = _split(frame, self.kind)
        if self.pending is not None:
            split = pl.concat([self.pending, split], how="diagonal_relaxed")
            self.pending = None
        if not final and split.height and not split["_end"][-1]:
            ends = split["_end"].arg_true()
            cut = int(ends[-1]) + 1 if ends.len() else 0
            self.pending, split = split[cut:], split[:cut]
        return self._join(split)

    @staticmethod
    def _join(split: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        if split["_end"].all():
            return split.drop("_end"), 0
        # A line is its pieces up to and including the next that ends one: numbered by the ends before it.
        group = split["_end"].cast(pl.UInt32).cum_sum().shift(1, fill_value=0).alias("_group")
        joined = (
            split.with_columns(group)
            .group_by("_group", maintain_order=True)
            .agg(pl.col(RAW).str.join(""), pl.col("line").last(), pl.len().alias("_n"))
        )
        return joined.drop("_group", "_n"), int(split.height - joined.height)
