"""Read `log_format` directives from an nginx configuration (multi-line directives and includes too)."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import FormatError

_TOKEN = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|#[^\n]*|[;{}]|[^\s;{}'"]+""")
COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'


@dataclass(frozen=True)
class LogFormatDirective:
    name: str
    format: str
    escape: str  # "default", "json" or "none"


def _unquote(token: str) -> str:
    if token[:1] in "'\"" and token[-1:] == token[:1]:
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _tokens(path: Path, seen: set[Path]) -> list[str]:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError as exc:
        raise FormatError(f"{path}: cannot read nginx config ({exc.strerror or exc})") from None
    tokens = [t for t in _TOKEN.findall(text) if not t.startswith("#")]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] == "include" and i + 2 < len(tokens) and tokens[i + 2] == ";":
            pattern = _unquote(tokens[i + 1])
            base = Path(pattern) if Path(pattern).is_absolute() else path.parent / pattern
            for included in sorted(glob.glob(str(base))):
                resolved = Path(included).resolve()
                if resolved not in seen:
                    seen.add(resolved)
                    out.extend(_tokens(resolved, seen))
            i += 3
            continue
        out.append(tokens[i])
        i += 1
    return out


def read_log_formats(conf: Path) -> tuple[dict[str, LogFormatDirective], list[str]]:
    """All log_format directives in `conf` (following includes), and the format names access_log uses."""
    if not conf.exists():
        raise FormatError(f"{conf}: no such nginx config file")
    tokens = _tokens(conf, {conf.resolve()})
    formats: dict[str, LogFormatDirective] = {}
    used: list[str] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if word in ("log_format", "access_log"):
            end = tokens.index(";", i) if ";" in tokens[i:] else len(tokens)
            args = tokens[i + 1 : end]
            if word == "log_format" and args:
                escape = "default"
                parts = args[1:]
                if parts and parts[0].startswith("escape="):
                    escape, parts = parts[0].split("=", 1)[1], parts[1:]
                formats[_unquote(args[0])] = LogFormatDirective(_unquote(args[0]), "".join(_unquote(p) for p in parts), escape)
            elif word == "access_log" and len(args) >= 2 and "=" not in args[1] and args[0] != "off":
                used.append(_unquote(args[1]))
            i = end + 1
            continue
        i += 1
    return formats, used


def log_format_from_conf(conf: Path, name: str | None = None) -> LogFormatDirective:
    """The named log_format, or the only one the config defines or uses."""
    formats, used = read_log_formats(conf)
    if name is not None:
        if name in formats:
            return formats[name]
        if name == "combined":
            return LogFormatDirective("combined", COMBINED, "default")
        known = ", ".join(sorted(formats)) or "none"
        raise FormatError(f"{conf}: no log_format named {name!r} (defined: {known})")
    candidates = list(dict.fromkeys(u for u in used if u in formats)) or list(formats)
    if len(candidates) == 1:
        return formats[candidates[0]]
    if not candidates and ((used and all(u == "combined" for u in used)) or not formats):
        return LogFormatDirective("combined", COMBINED, "default")
    raise FormatError(f"{conf}: several log_formats ({', '.join(candidates)}); choose one with --log-format-name")
