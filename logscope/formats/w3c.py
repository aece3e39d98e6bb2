"""W3C extended log files: IIS, CloudFront, and whatever else writes a `#Fields:` header.

The header names the columns, and a server writes it again (changed, perhaps) whenever it restarts
logging, so a `#Fields:` line re-maps the lines after it. Lines are split into fields by one vectorised
call per block and per distinct header (a handful); field names become nginx variables by the tables of
data/w3c_fields.toml. The header in effect where a block starts is carried from the block before it by
`prepare`, which the reader calls on the blocks in order.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

import polars as pl

from ..runners.sources import Block
from ..schema import OK, RAW, REASON, RECORD
from .traits import Traits, traits_from
from .variables import canonical_from_variables, logged_columns

DIRECTIVE = "W3C directive (#Fields, #Version, #Software, #Date)"
_FIELDS_LINE = r"^#Fields:\s*(.*?)\s*$"
_START = "_w3c_fields"  # the header in effect where a block starts, set by `prepare`
#: A space-separated value, or one in double quotes (IIS Advanced Logging), `""` being a quote inside it.
_TOKEN = r'"(?:[^"]|"")*"|[^ ]+'
_CLOUDFRONT_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\t(?:[^\t]*\t){15,}")


@cache
def _tables() -> dict[str, Any]:
    return tomllib.loads(resources.files("logscope.data").joinpath("w3c_fields.toml").read_text("utf-8"))


def _dialect(name: str) -> dict[str, Any]:
    return _tables().get(name, {})


@dataclass(frozen=True)
class W3CFormat:
    dialect: str  # "cloudfront", "iis" or "w3c"
    fields: tuple[str, ...]  # the header of the input's first lines (or the dialect's default fields)
    delimiter: str  # "\t" (CloudFront) or " "
    headerless: bool = False  # no `#Fields` line was seen: the default fields, a line may have fewer
    software: str | None = None
    #: The header in effect after the blocks `prepare` has seen (the reader is the only writer).
    _current: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    reads_bytes = False

    @property
    def traits(self) -> Traits:
        spec = _dialect(self.dialect)
        return traits_from(spec, default_family="w3c") if spec else Traits(family="w3c")

    @property
    def family(self) -> str:
        return self.traits.family

    @property
    def label(self) -> str:
        return {"cloudfront": "CloudFront standard log", "iis": "W3C extended (IIS)"}.get(self.dialect, "W3C extended")

    def _mapping(self) -> dict[str, str]:
        return {**_tables()["fields"], **_dialect(self.dialect).get("fields", {})}

    def _variables(self, fields: Sequence[str]) -> dict[str, int]:
        """Variable -> the position of the field that holds it (the first, where several do)."""
        mapping = self._mapping()
        out: dict[str, int] = {}
        for i, name in enumerate(fields):
            var = mapping.get(name)
            if var is not None and var not in out:
                out[var] = i
        return out

    @property
    def logged(self) -> frozenset[str]:
        variables = set(self._variables(self.fields))
        if "date" in self.fields or "date-local" in self.fields:
            variables.add("time_iso8601")
        return logged_columns(variables)

    def prepare(self, block: Block) -> Block:
        """The block with the header in effect where it starts; remembers the last header in it."""
        current = self._current.get("fields", " ".join(self.fields))
        headers = block.frame.lazy().filter(pl.col(RAW).str.starts_with("#Fields:")).select(pl.col(RAW).str.extract(_FIELDS_LINE, 1))
        last = headers.collect().to_series()
        if last.len():
            self._current["fields"] = re.sub(r"\s+", " ", last[-1])
        block.frame = block.frame.with_columns(pl.lit(current, pl.String).alias(_START))
        return block

    def parse(self, lines: pl.LazyFrame, naive_tz: str = "UTC", payload: bytes | None = None) -> pl.LazyFrame:
        frame = lines.collect()
        start = frame[_START][0] if _START in frame.columns and frame.height else " ".join(self.fields)
        raw = pl.col(RAW)
        directive = raw.str.starts_with("#")
        header = raw.str.extract(_FIELDS_LINE, 1).str.replace_all(r"\s+", " ")
        frame = frame.select(RAW, "line", directive.alias("_directive"), header.forward_fill().fill_null(start).alias("_fields"))
        parts = [
            frame.filter("_directive").select(
                RAW, "line", pl.lit(False).alias(OK), pl.lit(None, pl.String).alias(REASON), pl.lit(DIRECTIVE).alias(RECORD)
            )
        ]
        data = frame.filter(~pl.col("_directive"))
        for (fields_text,), group in data.group_by("_fields"):
            parts.append(self._parse_group(group, str(fields_text).split(" "), naive_tz).collect())
        out = pl.concat(parts, how="diagonal_relaxed")
        return out.sort("line").lazy()

    def _parse_group(self, group: pl.DataFrame, fields: list[str], naive_tz: str) -> pl.LazyFrame:
        """Lines written under one header: split, checked for their count of fields, mapped to variables."""
        if self.delimiter == "\t":
            tokens = pl.col(RAW).str.strip_chars_end("\r").str.split("\t")
        else:
            tokens = pl.col(RAW).str.strip_chars().str.extract_all(_TOKEN)
        n = len(fields)
        count = pl.col("_tok").list.len()
        fits = (count <= n) & (count >= min(n, 3)) if self.headerless else count == n
        reason = f"has another number of fields than its #Fields header names ({n})"
        lf = (
            group.lazy()
            .with_columns(tokens.alias("_tok"))
            .with_columns(fits.alias(OK), pl.when(~fits).then(pl.lit(reason)).alias(REASON), pl.lit(None, pl.String).alias(RECORD))
        )
        variables = self._variables(fields)
        columns = {var: self._value(pl.col("_tok").list.get(i, null_on_oob=True), var) for var, i in variables.items()}
        when = self._time(fields)
        if when is not None:
            columns["time_iso8601"] = when
        lf = lf.with_columns(expr.alias(var) for var, expr in columns.items())
        return canonical_from_variables(lf, columns.keys(), naive_tz, traits=self.traits)

    def _value(self, token: pl.Expr, var: str) -> pl.Expr:
        """A field's text as the variable holds it: quotes taken off, `+` for a space (IIS), %-escapes
        decoded (CloudFront), `-` for none."""
        text = (
            pl.when(token.str.starts_with('"') & token.str.ends_with('"'))
            .then(token.str.slice(1, token.str.len_chars() - 2).str.replace_all('""', '"', literal=True))
            .otherwise(token)
        )
        if var in ("http_user_agent", "http_referer"):
            if self.dialect == "cloudfront":
                return text.map_batches(_unquote_distinct, return_dtype=pl.String)
            return text.str.replace_all("+", " ", literal=True)
        return text

    def _time(self, fields: Sequence[str]) -> pl.Expr | None:
        for date, time in (("date", "time"), ("date-local", "time-local")):
            if date in fields and time in fields:
                d, t = (pl.col("_tok").list.get(fields.index(name), null_on_oob=True) for name in (date, time))
                stamp = d + pl.lit("T") + t
                # `date`/`time` are UTC (W3C); the -local fields are the server's zone, read in --timezone.
                return stamp + pl.lit("Z") if date == "date" else stamp
        return None

    def describe(self) -> dict[str, object]:
        return {
            "format": self.family,
            "log_format_name": self.label,
            "fields": list(self.fields),
            "headerless": self.headerless,
            **({"software": self.software} if self.software else {}),
            "logged": sorted(self.logged),
            "time_is": self.traits.time_is or "end",
            **self.traits.describe(self._variables(self.fields)),
        }


def _unquote_distinct(values: pl.Series) -> pl.Series:
    """%-escapes decoded once per distinct value (CloudFront escapes spaces in User-Agents as %20)."""
    distinct = values.unique().drop_nulls()
    decoded = pl.Series([unquote(v) for v in distinct.to_list()], dtype=pl.String)
    return values.replace_strict(distinct, decoded, default=None, return_dtype=pl.String)


def detect(sample: Sequence[str]) -> W3CFormat | None:
    """A W3C format for an input whose first lines are `sample`: a `#Fields` header, or (CloudFront files
    whose header was stripped) tab-separated lines of a date, a time and many fields."""
    header = next((re.match(_FIELDS_LINE, line) for line in sample if line.startswith("#Fields:")), None)
    software = next((line.split(":", 1)[1].strip() for line in sample if line.startswith("#Software:")), None)
    data = [line for line in sample if not line.startswith("#") and line.strip()]
    if header is not None:
        fields = tuple(header.group(1).split())
        tabs = sum("\t" in line for line in data) * 2 > len(data) > 0
        cloudfront = any(f.startswith("x-edge-") for f in fields)
        iis = software is not None and ("Microsoft" in software or "IIS" in software)
        dialect = "cloudfront" if cloudfront else "iis" if iis else "w3c"
        return W3CFormat(dialect, fields, "\t" if tabs or cloudfront else " ", software=software)
    if data and sum(bool(_CLOUDFRONT_LINE.match(line)) for line in data) * 2 > len(data):
        return W3CFormat("cloudfront", tuple(_dialect("cloudfront")["default_fields"]), "\t", headerless=True)
    return None
