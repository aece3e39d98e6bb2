"""Text access logs: nginx `log_format` (and Apache `LogFormat`) compiled into one typed regex.

The format text is tokenised once; every variable becomes a named group whose pattern depends on what
the variable holds and on the literal text around it. The whole column of lines is then matched with
one `str.extract_groups` call: no Python runs per line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

import polars as pl

from ..errors import FormatError
from ..schema import OK, RAW, REASON
from .captures import capture_columns, fit_captures
from .haproxy import haproxy_to_nginx, is_haproxy_syntax
from .traits import Traits, traits_from
from .variables import canonical_from_variables, logged_columns

# ASCII classes and exact literals keep the compiled regex one-pass (unambiguous at every byte), which
# lets the regex engine extract captures several times faster than with \d, \S or \s+.
_NUMBER = r"-|[0-9]+"
_DECIMAL = r"-|[0-9]+(?:\.[0-9]+)?"
_LIST = r"[-0-9.]+(?:(?:, | : )[-0-9.]+)*"  # $upstream_* values: "0.004, 0.002 : 0.001" or "-"

#: Variables whose values have a shape of their own; everything else is matched by its context.
VARIABLE_PATTERNS: dict[str, str] = {
    "remote_addr": r"[^ \t\]\"]+",
    "realip_remote_addr": r"[^ \t\]\"]+",
    "time_local": r"[0-9]{1,2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}",
    "time_iso8601": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
    "msec": r"[0-9]+(?:\.[0-9]+)?",
    "status": r"[0-9]{1,3}",
    "body_bytes_sent": _NUMBER,
    "bytes_sent": _NUMBER,
    "request_length": _NUMBER,
    "connection": _NUMBER,
    "connection_requests": _NUMBER,
    "request_count": _NUMBER,
    "server_port": _NUMBER,
    "request_time": _DECIMAL,
    "request_time_ms": r"[0-9]+",
    "request_time_us": r"[0-9]+",
    "upstream_response_time": _LIST,
    "upstream_connect_time": _LIST,
    "upstream_header_time": _LIST,
    "upstream_status": _LIST,
    "https": r"on|",
    # The edges' fields (see text_formats.toml).
    "remote_addr_port": r"[^ \t\]\"]+",  # address:port (AWS, HAProxy): the port is dropped
    "time_start": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
    "time_end": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
    "time_haproxy": r"[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?",
    "status_or_unset": r"-1|[0-9]{1,3}",
    "duration_ms_or_unset": r"[-+]?[0-9]+",
    "captured_quoted_headers": r'(?: ?"[^"]*")* ?',  # HAProxy's `%hrl %hsl`: quoted values, space-separated
    # ingress-nginx's upstream fields: a list where nginx tried several upstreams ("10.0.0.1:80, 10.0.0.2:80").
    "_upstream_addr": r"[^ ,]+(?:(?:, | : )[^ ,]+)*",
    "_upstream_response_length": _LIST,
    "_upstream_response_time": _LIST,
    "_upstream_status": _LIST,
}

# nginx writes a quote inside a value as \x22, so a quoted value never holds `"`. Apache writes \" and
# Traefik writes the raw quote: such lines fail this fast pattern and are retried leniently.
_QUOTED = r'[^"]*'
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")

# Apache LogFormat directives, as the nginx variables that hold the same thing.
_APACHE = {
    "h": "remote_addr",
    "a": "remote_addr",
    "l": "ident",
    "u": "remote_user",
    "t": "[$time_local]",
    "r": "request",
    "s": "status",
    ">s": "status",
    "<s": "status",
    "b": "body_bytes_sent",
    "B": "body_bytes_sent",
    "O": "bytes_sent",
    "I": "request_length",
    "v": "server_name",
    "V": "server_name",
    "p": "server_port",
    "D": "request_time_us",
    "T": "request_time",
    "H": "server_protocol",
    "m": "request_method",
    "U": "uri",
    "q": "args",
    "k": "connection_requests",
}
_APACHE_DIRECTIVE = re.compile(r"%(?:\{([^}]*)\})?([<>]?[a-zA-Z%])")


@dataclass(frozen=True)
class TextFormat:
    """A compiled text layout: `format` is the nginx log_format text it came from."""

    format: str
    name: str | None = None  # preset name, when it is one
    open_end: bool | str = False  # True: any trailing fields; "unquoted": trailing fields not starting with '"'
    prefix: str = ""  # regex for text a shipper puts before each line (syslog, docker)
    traits: Traits = field(default_factory=Traits)  # the system that writes this layout: family, edge, who answered
    #: Which header each position of a captured-headers block (HAProxy's `{...}`) holds: (variable, block, position).
    captures: tuple[tuple[str, str, int], ...] = ()
    variables: tuple[str, ...] = field(init=False)
    pattern: str = field(init=False)
    lenient_pattern: str = field(init=False)

    reads_bytes = False  # a regex over each line

    @property
    def family(self) -> str:
        return self.traits.family

    def __post_init__(self) -> None:
        every, _ = compile_log_format(self.format, open_end=self.open_end, prefix=self.prefix)
        # `_` variables are matched, never kept: only those the traits' rules read are captured.
        unread = {v for v in every if v.startswith("_") and v not in self.traits.reads}
        variables, pattern = compile_log_format(self.format, open_end=self.open_end, prefix=self.prefix, unread=unread)
        _, lenient = compile_log_format(self.format, open_end=self.open_end, prefix=self.prefix, lenient=True, unread=unread)
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "lenient_pattern", lenient)

    @property
    def label(self) -> str:
        return self.name or "custom log_format"

    @property
    def logged(self) -> frozenset[str]:
        logged = logged_columns((*self.variables, *(var for var, _, _ in self.captures)))
        # An absolute request target (AWS) carries the scheme and the host.
        return logged | {"scheme", "host"} if self.traits.absolute_urls and "request" in self.variables else logged

    def fitted(self, sample: list[str]) -> TextFormat:
        """This layout with what its sample lines decide: which header each captured position holds."""
        if not any(v.startswith("captured_") for v in self.variables):
            return self
        frame = pl.DataFrame({RAW: sample, "line": range(len(sample))}, schema={RAW: pl.String, "line": pl.UInt64}).lazy()
        blocks = self._extract(frame).filter(pl.col("_m").is_not_null()).select(v for v in self.variables if v.startswith("captured_"))
        return replace(self, captures=fit_captures(blocks.collect()))

    def match_expr(self) -> pl.Expr:
        return pl.col(RAW).str.contains(self.pattern)

    def _extract(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        """Match every line; lines that fail are retried with quoted fields matched leniently, because
        some servers (Traefik) write a client's raw `"` inside the quoted request line."""
        strict = lines.with_columns(pl.col(RAW).str.extract_groups(self.pattern).alias("_g")).unnest("_g").collect()
        failed = strict.filter(pl.col("_m").is_null())
        if failed.height == 0 or self.lenient_pattern == self.pattern:
            return strict.lazy()
        retry = failed.select(RAW, "line").with_columns(pl.col(RAW).str.extract_groups(self.lenient_pattern).alias("_g")).unnest("_g")
        return pl.concat([strict.filter(pl.col("_m").is_not_null()), retry]).sort("line").lazy()

    def parse(self, lines: pl.LazyFrame, naive_tz: str = "UTC", payload: bytes | None = None) -> pl.LazyFrame:
        lf = self._extract(lines)
        lf = lf.with_columns(
            pl.col("_m").is_not_null().alias(OK),
            pl.when(pl.col("_m").is_null()).then(pl.lit(f"does not match the {self.label} layout")).alias(REASON),
        )
        renamed = capture_columns(self.captures)
        return canonical_from_variables(lf, self.variables, naive_tz, clean_numbers=True, traits=self.traits, renamed=renamed)

    @property
    def time_is(self) -> str:
        """nginx stamps a line when the request ends ($time_local); Apache's %t is when it was received.
        A layout given in Apache's own syntax is Apache's; `combined` cannot be told apart, and is read
        as nginx's (it logs no duration, so either reading gives the same order). An edge's layout says."""
        if self.traits.time_is is not None:
            return self.traits.time_is
        return "start" if is_apache_syntax(self.format) else "end"

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {
            "format": self.family,
            "log_format_name": self.name,
            "log_format": self.format,
            "logged": sorted(self.logged),
            "time_is": self.time_is,
            **self.traits.describe(self.variables),
        }
        if self.captures:
            out["captured_headers"] = {var: f"{block}[{pos}]" for var, block, pos in self.captures}
        return out


def tokenize(log_format: str) -> list[tuple[str, str]]:
    """Split a log_format into ("lit", text) and ("var", name) tokens."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _VARIABLE.finditer(log_format):
        if m.start() > pos:
            tokens.append(("lit", log_format[pos : m.start()]))
        tokens.append(("var", m.group(1) or m.group(2)))
        pos = m.end()
    if pos < len(log_format):
        tokens.append(("lit", log_format[pos:]))
    return tokens


def _context_pattern(prev_lit: str, next_lit: str | None, lenient: bool = False) -> str:
    if prev_lit.endswith('"') and next_lit is not None and next_lit.startswith('"'):
        return ".*?" if lenient else _QUOTED
    if next_lit is None:
        return ".*"
    stop = next_lit[0]
    if stop == "]":
        return r"[^\]]*"
    if stop.isspace():
        return r".*?" if lenient else r"[^ \t]*"
    return f"[^{re.escape(stop)}]*"


def compile_log_format(
    log_format: str, *, open_end: bool | str = False, prefix: str = "", lenient: bool = False, unread: Collection[str] = ()
) -> tuple[tuple[str, ...], str]:
    """Compile nginx log_format text into (variables in order, regex with one named group each).

    The regex starts with an empty `_m` group so a non-matching line is told apart from empty values. The
    variables in `unread` are matched without a group and left out of the variables: extracting a group
    makes a string column of it (ALB's line has 14 fields nothing reads: its match took three times as long).
    """
    text = log_format.strip()
    if not text:
        raise FormatError("the log format is empty")
    if is_apache_syntax(text):
        text = apache_to_nginx(text)
    tokens = tokenize(text)
    if not any(kind == "var" for kind, _ in tokens):
        raise FormatError(f"the log format has no $variables: {log_format!r}")
    parts = ["^(?P<_m>)" + (f"(?:{prefix})" if prefix else "")]
    variables: list[str] = []
    for i, (kind, value) in enumerate(tokens):
        if kind == "lit":
            # Exact literals keep the regex one-pass; the lenient retry also accepts runs of spaces.
            parts.append(r"\s+".join(re.escape(c) for c in re.split(r" +", value)) if lenient else re.escape(value))
            continue
        prev_lit = tokens[i - 1][1] if i > 0 and tokens[i - 1][0] == "lit" else ""
        next_tok = tokens[i + 1] if i + 1 < len(tokens) else None
        if next_tok is not None and next_tok[0] == "var":
            raise FormatError(f"variables ${value} and ${next_tok[1]} touch with no text between them, so they cannot be told apart")
        next_lit = next_tok[1] if next_tok is not None else None
        pattern = VARIABLE_PATTERNS.get(value) or _context_pattern(prev_lit, next_lit, lenient)
        if value in unread:
            parts.append(f"(?:{pattern})")
            continue
        group = value if value not in variables else f"{value}__{variables.count(value) + 1}"
        if not re.fullmatch(r"[A-Za-z_]\w*", group):
            raise FormatError(f"unsupported variable name ${value}")
        variables.append(value)
        parts.append(f"(?P<{group}>{pattern})")
    endings = {True: r"(?:[ \t].*)?$", "unquoted": r"(?:[ \t]+[^ \t\"].*)?$", False: r"[ \t]*$"}
    if open_end not in endings:
        raise FormatError(f'open_end must be true, false or "unquoted", not {open_end!r}')
    parts.append(endings[open_end])
    return tuple(dict.fromkeys(variables)), "".join(parts)


def is_apache_syntax(log_format: str) -> bool:
    return "$" not in log_format and "%" in log_format


def apache_to_nginx(log_format: str) -> str:
    """Translate an Apache LogFormat (`%h %l %u %t "%r" %>s %b`) into nginx variables."""

    def repl(m: re.Match[str]) -> str:
        arg, directive = m.group(1), m.group(2)
        if directive == "%":
            return "%"
        if arg is not None and directive in ("i", "o"):
            name = re.sub(r"\W", "_", arg.lower())
            return "$" + ("http_" if directive == "i" else "sent_http_") + name
        if arg is not None and directive == "t":
            return "[$time_local]"
        if arg is not None and directive == "e":  # environment variables: HTTPS (mod_ssl), SetEnvIf flags
            return "$" + re.sub(r"\W", "_", arg.lower())
        if arg is not None and directive == "x":  # mod_ssl variables
            return "$ssl_protocol" if arg.upper() == "SSL_PROTOCOL" else "$" + re.sub(r"\W", "_", arg.lower())
        if directive.lstrip("<>") in ("s",) or directive in _APACHE:
            target = _APACHE.get(directive) or _APACHE[directive.lstrip("<>")]
            return target if target.startswith("[") else "$" + target
        raise FormatError(f"unsupported Apache LogFormat directive %{'{' + arg + '}' if arg else ''}{directive}")

    return _APACHE_DIRECTIVE.sub(repl, log_format)


@cache
def presets() -> dict[str, TextFormat]:
    """The built-in layouts from data/text_formats.toml, in detection order."""
    data = tomllib.loads(resources.files("logscope.data").joinpath("text_formats.toml").read_text("utf-8"))
    return {
        name: TextFormat(spec["format"], name=name, open_end=spec.get("open_end", False), traits=traits_from(spec))
        for name, spec in data.items()
    }


def text_format(spec: str) -> TextFormat:
    """A preset by name (`combined`), a log_format given as its own text, or a HAProxy log-format string."""
    known = presets()
    if spec in known:
        return known[spec]
    if is_haproxy_syntax(spec):
        # HAProxy's own syntax: the HAProxy layouts' traits (who answered, when a line is stamped) apply to it.
        return TextFormat(haproxy_to_nginx(spec), name="custom HAProxy log-format", open_end=True, traits=known["haproxy_httplog"].traits)
    if "$" not in spec and "%" not in spec:
        raise FormatError(f"unknown log format {spec!r}: give the log_format text or one of {', '.join(known)}")
    return TextFormat(spec)
