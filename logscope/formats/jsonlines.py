"""JSON access logs: Caddy v2, Traefik, and generic JSON lines (nginx `escape=json` and others).

A block of lines is decoded by one `read_ndjson` call against a schema whose leaves are all strings,
so wrong value types never fail a block. Lines that are not JSON objects of the expected shape are
isolated without Python work per good line: invalid JSON is filtered out vectorised, and a block that
still fails is bisected, so the cost grows with the number of bad lines only.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from ..errors import FormatError
from ..schema import CANONICAL, OK, RAW, REASON, RECORD
from . import fields as cv
from .traits import Traits, traits_from
from .variables import CANONICAL_TO_VARIABLE, NUMBER_VARIABLES, canonical_from_variables, logged_columns

S = pl.String()
STRINGS = pl.List(pl.String())
PREFIX = "_prefix"
NOT_JSON = "not a JSON object"
BAD_SHAPE = "invalid JSON, or a field holds the wrong kind of value"
NOT_ACCESS = "not an access record (a JSON object with no request fields)"
#: A JSON object with none of the flavour's request fields: the server's own message (Caddy's start-up, a
#: Traefik plugin's line), counted as a non-request record.
SERVER_MESSAGE = "the server's own message (a JSON object with no request)"

#: Variable -> expression over the decoded frame (and `_prefix`, the text before the JSON object).
VariableMap = Mapping[str, pl.Expr]


# --- decoding ---------------------------------------------------------------------------------------


def _read(texts: pl.Series, schema: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
    payload = texts.str.join("\n").item().encode("utf-8")
    try:
        frame = pl.read_ndjson(payload, schema=dict(schema))
    except Exception:
        return None
    return frame if frame.height == texts.len() else None


def _arrow_type(dtype: pl.DataType, path: tuple[str, ...], numbers: Mapping[tuple[str, ...], str]) -> Any:
    import pyarrow as pa

    if isinstance(dtype, pl.Struct):
        return pa.struct([(f.name, _arrow_type(f.dtype, (*path, f.name), numbers)) for f in dtype.fields])
    if isinstance(dtype, pl.List):
        return pa.list_(pa.string())
    return pa.type_for_alias(numbers.get(path, "string"))


def _read_typed(payload: Any, rows: int, schema: Mapping[str, pl.DataType], numbers: Mapping[tuple[str, ...], str]) -> pl.DataFrame | None:
    """Fast path for a flavour whose number fields are known (Caddy): Arrow's multithreaded JSON reader
    over `payload` (`rows` JSON objects, one per line), those fields typed, the result cast to the
    string-leaf schema. Any surprise (a string where a number belongs, invalid JSON, a number too large,
    another count of rows) returns None, and the general path decides."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    arrow_schema = pa.schema([(name, _arrow_type(dtype, (name,), numbers)) for name, dtype in schema.items()])
    options = pa_json.ParseOptions(explicit_schema=arrow_schema, unexpected_field_behavior="ignore", newlines_in_values=False)
    try:
        table = pa_json.read_json(pa.BufferReader(payload), parse_options=options, memory_pool=pa.system_memory_pool())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame) or frame.height != rows:
        return None
    return as_schema(frame, schema)


def _duckdb_type(dtype: pl.DataType, path: tuple[str, ...], numbers: Mapping[tuple[str, ...], str]) -> str:
    # A top-level integer is read as a double: DuckDB would round 200.5 into an integer, where the other paths
    # refuse it; the canonical columns take a whole double as the integer and a fraction as no value.
    if len(path) == 1 and numbers.get(path) == "int64":
        return "DOUBLE"
    if isinstance(dtype, pl.Struct):
        fields = ", ".join(
            '"{}" {}'.format(f.name.replace('"', '""'), _duckdb_type(f.dtype, (*path, f.name), numbers)) for f in dtype.fields
        )
        return f"STRUCT({fields})"
    if isinstance(dtype, pl.List):
        return "VARCHAR[]"
    return {"double": "DOUBLE", "int64": "BIGINT"}.get(numbers.get(path, "string"), "VARCHAR")


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_columns(schema: Mapping[str, pl.DataType], numbers: Mapping[tuple[str, ...], str]) -> str:
    """The `columns` argument of DuckDB's `read_json` for a flavour: its schema, the known number fields typed
    (as Arrow's typed path reads them), every other leaf a string."""
    items = (f"{_sql_text(name)}: {_sql_text(_duckdb_type(dtype, (name,), numbers))}" for name, dtype in schema.items())
    return "{" + ", ".join(items) + "}"


def as_schema(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """A typed decoded frame (number fields as numbers) cast to the flavour's schema of string leaves, but for
    top-level numbers (Caddy's status, size, duration): the canonical columns read them without text."""
    return frame.select(pl.col(name) if frame.schema[name].is_numeric() else pl.col(name).cast(dtype) for name, dtype in schema.items())


def _joined(texts: pl.Series) -> Any:
    """The texts joined by newlines, as an Arrow buffer (the bytes, not a Python copy)."""
    return texts.str.join("\n").cast(pl.Binary).to_arrow()[0].as_buffer()


def _bisect(texts: pl.Series, positions: pl.Series, schema: Mapping[str, pl.DataType]) -> list[pl.DataFrame]:
    """Decode what decodes; a line that fails alone is left out. Returns frames with a `_pos` column."""
    if texts.len() == 0:
        return []
    frame = _read(texts, schema)
    if frame is not None:
        return [frame.with_columns(positions.alias("_pos"))]
    if texts.len() == 1:
        return []
    mid = texts.len() // 2
    return _bisect(texts[:mid], positions[:mid], schema) + _bisect(texts[mid:], positions[mid:], schema)


def decode_objects(
    texts: pl.Series,
    schema: Mapping[str, pl.DataType],
    numbers: Mapping[tuple[str, ...], str] | None = None,
    payload: bytes | None = None,
) -> tuple[pl.DataFrame, pl.Series]:
    """Decode JSON object texts (nulls allowed) into a frame row-aligned with `texts`, plus a mask of
    the rows that decoded. Rows that did not decode are all-null. `numbers` (key path -> Arrow type)
    enables the typed fast path, which reads `payload` (the texts' bytes, one per line) when given."""
    n = texts.len()
    positions = pl.Series("_pos", range(n), dtype=pl.UInt32)
    candidate = texts.str.starts_with("{").fill_null(False)
    frame = None
    if candidate.all():
        frame = _read_typed(payload if payload is not None else _joined(texts), n, schema, numbers) if numbers else None
        if frame is None:
            frame = _read(texts, schema)
    if frame is not None:
        return frame, candidate
    # Slow path, only for blocks holding bad lines: drop what is not valid JSON, then bisect the rest.
    valid = candidate & texts.str.json_path_match("$").is_not_null().fill_null(False)
    parts = _bisect(texts.filter(valid), positions.filter(valid), schema)
    decoded = pl.concat(parts) if parts else pl.DataFrame(schema={**schema, "_pos": pl.UInt32})
    aligned = positions.to_frame().join(decoded, on="_pos", how="left", maintain_order="left")
    ok = positions.is_in(decoded["_pos"].implode())
    return aligned.drop("_pos"), ok


# --- the three flavours ----------------------------------------------------------------------------


def _nested_schema(paths: Sequence[tuple[str, ...]]) -> dict[str, pl.DataType]:
    """A schema with string leaves for the given key paths; a path ending in "[]" is a list of strings."""
    tree: dict[str, object] = {}
    for path in paths:
        node = tree
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise FormatError(f"JSON key {'.'.join(path)} is used both as a value and as an object")
            node = child
        leaf = path[-1]
        if isinstance(node.get(leaf), dict):
            raise FormatError(f"JSON key {'.'.join(path)} is used both as a value and as an object")
        node[leaf.removesuffix("[]")] = "list" if leaf.endswith("[]") else "str"

    def build(node: dict[str, object]) -> dict[str, pl.DataType]:
        out: dict[str, pl.DataType] = {}
        for key, value in node.items():
            if isinstance(value, dict):
                out[key] = pl.Struct(build(value))
            else:
                out[key] = STRINGS if value == "list" else S
        return out

    return build(tree)


def _path_expr(path: tuple[str, ...]) -> pl.Expr:
    expr = pl.col(path[0].removesuffix("[]"))
    for key in path[1:]:
        expr = expr.struct.field(key.removesuffix("[]"))
    return expr.list.first() if path[-1].endswith("[]") else expr


@dataclass(frozen=True)
class JsonFormat:
    """A JSON flavour: the schema to decode, how its fields become variables, and what makes a record."""

    family: str  # "caddy" | "traefik" | "json"
    schema: Mapping[str, pl.DataType]
    variables: Callable[[], VariableMap]
    is_access: Callable[[], pl.Expr]
    has_prefix: bool = False  # lines carry text before the JSON object (console / docker / syslog)
    detail: dict[str, object] = field(default_factory=dict)
    numbers: Mapping[tuple[str, ...], str] = field(default_factory=dict)  # key paths the flavour writes as numbers
    traits: Traits | None = None  # an edge's flavour (json_formats.toml): who answered, when a line is stamped
    name: str | None = None  # the flavour's name in json_formats.toml
    #: What makes an object without a request the server's own message (Caddy's `logger`/`msg`), counted as a
    #: non-request record; None: such an object is rejected as no access record.
    is_message: Callable[[], pl.Expr] | None = None

    @property
    def label(self) -> str:
        return self.name or {"caddy": "Caddy JSON", "traefik": "Traefik JSON"}.get(self.family, "JSON")

    @property
    def logged(self) -> frozenset[str]:
        return logged_columns(self.variables().keys())

    @property
    def reads_bytes(self) -> bool:
        """Whether `parse` can decode a block's bytes directly (typed numbers known, no text before the JSON)."""
        return bool(self.numbers) and not self.has_prefix

    def parse(self, lines: pl.LazyFrame, naive_tz: str = "UTC", payload: bytes | None = None) -> pl.LazyFrame:
        block = lines.collect()
        raw = block[RAW]
        # When every line starts an object, the lines are the texts and Arrow can read the block's bytes
        # as they came from the file; otherwise the texts are the lines stripped (or cut from their prefix).
        as_read = payload is not None and self.reads_bytes and raw.str.starts_with("{").all()
        if self.has_prefix:
            split = raw.str.extract_groups(r"^(?P<p>[^{]*)(?P<j>\{.*\})\s*$")
            texts, prefix = split.struct.field("j"), split.struct.field("p")
        else:
            texts, prefix = (raw if as_read else raw.str.strip_chars()), pl.repeat(None, raw.len(), dtype=pl.String, eager=True)
        decoded, ok = decode_objects(texts, self.schema, self.numbers, payload=payload if as_read else None)
        objects = texts.str.starts_with("{").fill_null(False)
        return self._records(
            decoded.with_columns(prefix.alias(PREFIX), raw, block["line"], ok.alias("_decoded"), objects.alias("_object")), naive_tz
        )

    def parse_decoded(self, decoded: pl.DataFrame, first_line: int, naive_tz: str = "UTC") -> pl.LazyFrame:
        """Like `parse`, for lines already decoded (one JSON object each, numbered from `first_line`) by a reader
        of whole files (`ingest.json_files`): the raw text is left null, for the caller to fill on refused rows."""
        n = decoded.height
        return self._records(
            decoded.with_columns(
                pl.lit(None, pl.String).alias(PREFIX),
                pl.lit(None, pl.String).alias(RAW),
                pl.int_range(first_line, first_line + n, dtype=pl.UInt64).alias("line"),
                pl.lit(True).alias("_decoded"),
                pl.lit(True).alias("_object"),
            ),
            naive_tz,
        )

    def _records(self, decoded: pl.DataFrame, naive_tz: str) -> pl.LazyFrame:
        """Decoded objects (with `_prefix`, raw, line, `_decoded`, `_object`) into canonical rows, each refused
        one with its reason, or named as a non-request record."""
        var_exprs = self.variables()
        lf = (
            decoded.lazy()
            .with_columns((pl.col("_decoded") & self.is_access().fill_null(False)).alias("_access"))
            .with_columns(
                pl.col("_access").alias(OK),
                pl.when(~pl.col("_object"))
                .then(pl.lit(NOT_JSON))
                .when(~pl.col("_decoded"))
                .then(pl.lit(BAD_SHAPE))
                .when(~pl.col("_access"))
                .then(pl.lit(NOT_ACCESS))
                .alias(REASON),
                pl.when(
                    pl.col("_decoded")
                    & ~pl.col("_access")
                    & (self.is_message().fill_null(False) if self.is_message is not None else pl.lit(False))
                )
                .then(pl.lit(SERVER_MESSAGE))
                .alias(RECORD),
                *[expr.alias(name) for name, expr in var_exprs.items()],
            )
        )
        types = lf.collect_schema()
        text = [name for name in var_exprs if name not in NUMBER_VARIABLES or not types[name].is_numeric()]
        return canonical_from_variables(lf.with_columns(pl.col(text).cast(pl.String)), var_exprs.keys(), naive_tz, traits=self.traits)

    def describe(self) -> dict[str, object]:
        traits = self.traits or Traits(family=self.family)
        time_is = traits.time_is or ("start" if self.family == "traefik" else "end")
        name = {"log_format_name": self.name} if self.name else {}
        described = traits.describe(self.variables().keys())
        return {"format": self.family, **name, **self.detail, "logged": sorted(self.logged), "time_is": time_is, **described}


# Caddy ---------------------------------------------------------------------------------------------

# What Caddy writes as JSON numbers (its default encoder); a log that writes them otherwise (a string
# duration_format, an ISO time_format) takes the general decoder.
_CADDY_NUMBERS = {
    ("ts",): "double",
    ("status",): "int64",
    ("size",): "int64",
    ("duration",): "double",
    ("request", "tls", "version"): "int64",
}

_CADDY_PATHS = [
    ("ts",),
    ("logger",),
    ("msg",),
    ("status",),
    ("size",),
    ("duration",),
    ("request", "remote_ip"),
    ("request", "remote_addr"),
    ("request", "client_ip"),
    ("request", "proto"),
    ("request", "method"),
    ("request", "host"),
    ("request", "uri"),
    ("request", "headers", "User-Agent[]"),
    ("request", "headers", "Referer[]"),
    ("request", "headers", "Authorization[]"),
    ("request", "headers", "X-Forwarded-For[]"),
    ("request", "headers", "Mcp-Method[]"),
    ("request", "headers", "Mcp-Protocol-Version[]"),
    ("request", "headers", "Mcp-Session-Id[]"),
    ("request", "tls", "version"),
    ("resp_headers", "Location[]"),
    ("resp_headers", "Strict-Transport-Security[]"),
]


def _caddy_variables() -> VariableMap:
    req = pl.col("request")
    headers = req.struct.field("headers")
    tls = req.struct.field("tls")
    # Console-encoded logs keep the time in the text before the JSON object.
    prefix_time = pl.col(PREFIX).str.extract(r"^\s*(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?|\S+)", 1)
    return {
        "time_any": pl.coalesce(pl.col("ts").cast(pl.String), prefix_time),
        "remote_addr": pl.coalesce(req.struct.field("remote_ip"), cv.strip_port(req.struct.field("remote_addr"))),
        # Caddy's client_ip is the address after its trusted_proxies rules; kept for --trust-forwarded.
        "http_x_forwarded_for": pl.coalesce(req.struct.field("client_ip"), headers.struct.field("X-Forwarded-For").list.first()),
        "server_protocol": req.struct.field("proto"),
        "request_method": req.struct.field("method"),
        "host": req.struct.field("host").str.replace(r":\d+$", ""),
        "request_uri": req.struct.field("uri"),
        "http_user_agent": headers.struct.field("User-Agent").list.first(),
        "http_referer": headers.struct.field("Referer").list.first(),
        "http_mcp_method": headers.struct.field("Mcp-Method").list.first(),
        "http_mcp_protocol_version": headers.struct.field("Mcp-Protocol-Version").list.first(),
        "http_mcp_session_id": headers.struct.field("Mcp-Session-Id").list.first(),
        # Caddy redacts the credential: 2.6 logs `"Authorization": []`, later versions a redacted value. The
        # header's presence is what counts (and a value logged with log_credentials is never kept).
        "has_authorization": pl.when(headers.struct.field("Authorization").is_not_null()).then(pl.lit("1")).otherwise(pl.lit("-")),
        # Caddy logs a `tls` object exactly on HTTPS requests.
        "https": pl.when(tls.is_not_null()).then(pl.lit("on")).otherwise(pl.lit("")),
        "tls_version": cv.tls_version_name(tls.struct.field("version")),
        "status": pl.col("status"),
        "body_bytes_sent": pl.col("size"),
        "request_time": pl.col("duration"),
        "sent_http_location": pl.col("resp_headers").struct.field("Location").list.first(),
        "sent_http_strict_transport_security": pl.col("resp_headers").struct.field("Strict-Transport-Security").list.first(),
    }


def caddy_format(has_prefix: bool = False) -> JsonFormat:
    return JsonFormat(
        family="caddy",
        schema=_nested_schema(_CADDY_PATHS),
        variables=_caddy_variables,
        is_access=lambda: pl.col("request").is_not_null() & pl.col("request").struct.field("method").is_not_null(),
        has_prefix=has_prefix,
        detail={"wrapped": has_prefix} if has_prefix else {},
        numbers=_CADDY_NUMBERS,
        is_message=lambda: pl.col("logger").is_not_null() | pl.col("msg").is_not_null(),
    )


# Traefik -------------------------------------------------------------------------------------------

_TRAEFIK_KEYS = {
    "ClientHost": "remote_addr",
    "RequestMethod": "request_method",
    "RequestPath": "request_uri",
    "RequestProtocol": "server_protocol",
    "RequestScheme": "scheme",
    "RequestHost": "host",
    "RequestPort": "server_port",
    "DownstreamStatus": "status",
    "DownstreamContentSize": "body_bytes_sent",
    "Duration": "request_time_ns",
    "TLSVersion": "tls_version",
    "request_User-Agent": "http_user_agent",
    "request_Referer": "http_referer",
    "request_Authorization": "http_authorization",
    "request_X-Forwarded-For": "http_x_forwarded_for",
    "request_Mcp-Method": "http_mcp_method",
    "request_Mcp-Protocol-Version": "http_mcp_protocol_version",
    "request_Mcp-Session-Id": "http_mcp_session_id",
    "downstream_Location": "sent_http_location",
    "downstream_Strict-Transport-Security": "sent_http_strict_transport_security",
    "RouterName": "router_name",
    "entryPointName": "entry_point",
    # 0 or absent "if the request was handled by this Traefik instance (e.g. with a redirect)" (Traefik's docs).
    "OriginStatus": "_origin_status",
}
#: Traefik as an edge: who answered is read where its log keeps OriginStatus.
_TRAEFIK_TRAITS = Traits(
    family="traefik",
    edge="traefik",
    time_is="start",
    answered=(("edge", ((("_origin_status", "^0?$"),),)), ("origin", ((("_origin_status", "^[1-9][0-9]{2}$"),),))),
)
_TRAEFIK_TIMES = ("StartUTC", "time", "StartLocal")


def _traefik_variables(keys: frozenset[str] | None) -> VariableMap:
    # Traefik keeps only the fields and headers it is configured to; what is not in the input's
    # first lines is not logged, and must not be read as absent.
    out: dict[str, pl.Expr] = {var: pl.col(key) for key, var in _TRAEFIK_KEYS.items() if keys is None or key in keys}
    out["time_any"] = pl.coalesce([pl.col(k) for k in _TRAEFIK_TIMES])
    return out


def traefik_format(has_prefix: bool = False, keys: set[str] | None = None) -> JsonFormat:
    seen = frozenset(keys) if keys is not None else None
    return JsonFormat(
        family="traefik",
        schema={k: S for k in (*_TRAEFIK_KEYS, *_TRAEFIK_TIMES)},
        variables=lambda: _traefik_variables(seen),
        is_access=lambda: pl.col("DownstreamStatus").is_not_null() | pl.col("RequestMethod").is_not_null(),
        has_prefix=has_prefix,
        traits=_TRAEFIK_TRAITS,
    )


# Edges (json_formats.toml) ----------------------------------------------------------------------------


@cache
def flavours() -> dict[str, dict[str, Any]]:
    """The edges' JSON flavours of json_formats.toml, in the order they are tried."""
    return tomllib.loads(resources.files("logscope.data").joinpath("json_formats.toml").read_text("utf-8"))


def flavour_for(keys: set[str], family: str = "auto") -> str | None:
    """The flavour whose keys the sample holds (at least its `min_keys` of `detect`), if any."""
    for name, spec in flavours().items():
        if family not in ("auto", spec.get("family"), name):
            continue
        if len(keys & set(spec["detect"])) >= spec.get("min_keys", 2):
            return name
    return None


def flavour_format(name: str, has_prefix: bool, keys: set[str]) -> JsonFormat:
    """An edge's JSON flavour; `keys` (the sample's) say which of the fields it needs the log lacks."""
    spec = flavours()[name]
    # What the first lines do not hold is not logged (a Logpush job chooses its fields), and must not be read as absent.
    fields: dict[str, str] = {var: key for var, key in spec["fields"].items() if key in keys}
    paths = {var: tuple(key.split(".")) for var, key in fields.items()}
    variables = {var: _path_expr(path) for var, path in paths.items()}
    status_like = [variables[v] for v in ("status", "request_method") if v in variables]
    missing = {column: key for column, key in spec.get("needs", {}).items() if key not in keys}
    return JsonFormat(
        family=spec.get("family", name),
        schema=_nested_schema(list(paths.values())),
        variables=lambda: variables,
        is_access=lambda: pl.any_horizontal([e.is_not_null() for e in status_like]),
        has_prefix=has_prefix,
        detail={"missing_fields": missing} if missing else {},
        traits=traits_from(spec, default_family=name),
        name=name,
        numbers={tuple(key.split(".")): kind for key, kind in spec.get("numbers", {}).items() if key in keys},
    )


# Generic JSON --------------------------------------------------------------------------------------


@cache
def json_aliases() -> dict[str, tuple[str, ...]]:
    data = tomllib.loads(resources.files("logscope.data").joinpath("json_fields.toml").read_text("utf-8"))
    return {var: tuple(keys) for var, keys in data["aliases"].items()}


def parse_field_overrides(fields: Sequence[str]) -> dict[str, str]:
    """`--field canonical=source.key` options -> {variable: "source.key"}."""
    out: dict[str, str] = {}
    for item in fields:
        target, sep, source = item.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not target or not source:
            raise FormatError(f"--field takes canonical=source, e.g. client_ip=real_ip (got {item!r})")
        if target in CANONICAL_TO_VARIABLE:
            out[CANONICAL_TO_VARIABLE[target]] = source
        elif target in CANONICAL:
            raise FormatError(f"--field: {target} is computed by logscope and cannot be mapped")
        else:
            out[target] = source  # an extra column of that name
    return out


def generic_mapping(keys: set[str], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Choose, for each variable, the first alias present among the input's keys; overrides win."""
    mapping = {var: next(k for k in aliases if k in keys) for var, aliases in json_aliases().items() if any(k in keys for k in aliases)}
    for var, key in (overrides or {}).items():
        mapping = {v: k for v, k in mapping.items() if k != key}
        mapping[var] = key
    return mapping


def generic_format(mapping: Mapping[str, str], has_prefix: bool = False) -> JsonFormat:
    paths = {var: tuple(key.split(".")) for var, key in mapping.items()}
    variables = {var: _path_expr(path) for var, path in paths.items()}
    status_like = [variables[v] for v in ("status", "request", "request_uri", "uri", "request_method") if v in variables]
    if not status_like:
        raise FormatError("the JSON lines have no status or request field; map them with --field status=KEY")
    return JsonFormat(
        family="json",
        schema=_nested_schema(list(paths.values())),
        variables=lambda: variables,
        is_access=lambda: pl.any_horizontal([e.is_not_null() for e in status_like]),
        has_prefix=has_prefix,
        detail={"fields": dict(sorted(mapping.items()))},
    )


def template_mapping(log_format: str) -> dict[str, str]:
    """For an nginx `escape=json` log_format: JSON key -> variable, read from the template text."""
    pairs = re.findall(r'"([^"]+)"\s*:\s*"?\$\{?(\w+)\}?"?', log_format)
    if not pairs:
        raise FormatError('the JSON log_format names no "key": "$variable" pairs')
    return {("time_any" if var in ("time_local", "time_iso8601", "msec") else var): key for key, var in pairs}


def _key_paths(value: dict[str, Any], prefix: str = "", depth: int = 3) -> set[str]:
    """The dotted key paths of an object's values, nested objects down to `depth` levels."""
    out = set()
    for key, item in value.items():
        path = f"{prefix}{key}"
        out.add(path)
        if isinstance(item, dict) and depth > 1:
            out |= _key_paths(item, f"{path}.", depth - 1)
    return out


def sample_keys(lines: Sequence[str]) -> tuple[set[str], int, bool]:
    """Keys seen in a sample of lines (top-level, and the dotted paths of nested objects' keys), how many
    lines held a JSON object, and whether they had a prefix.

    Runs on the detection sample only (a few hundred lines), never on the data path.
    """
    keys: set[str] = set()
    objects = 0
    prefixed = False
    for text in lines:
        start = text.find("{")
        if start < 0:
            continue
        try:
            value = json.loads(text[start:])
        except (ValueError, RecursionError):  # not JSON, or nested deeper than any access record (a hostile line)
            continue
        if isinstance(value, dict):
            objects += 1
            keys |= _key_paths(value)
            prefixed = prefixed or bool(text[:start].strip())
    return keys, objects, prefixed
