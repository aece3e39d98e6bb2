"""HAProxy's captured headers: `capture request header User-Agent len 64` puts the header's value in a
`{...}` block of the log line, `|`-separated, in the order the `capture` lines are written in the
configuration, which the log does not name. Which position holds which header is decided once, from the
sample lines' values (a User-Agent looks like `product/version`, a Location like a URL), and applied to
every line as a column expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

#: Variable -> what its values look like, in each block; the first kind most of a position's values fit wins.
_IP = r"(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:]*:[0-9a-fA-F]*)"
_REQUEST_KINDS: dict[str, re.Pattern[str]] = {
    "http_authorization": re.compile(r"^(?:Bearer|Basic|Token|Digest|DPoP) \S"),
    "http_referer": re.compile(r"^https?://"),
    "http_user_agent": re.compile(r"^[A-Za-z][\w.+!-]*/\S|^Mozilla|\(|\s"),
    "http_x_forwarded_for": re.compile(rf"^{_IP}(?:, *{_IP})*$"),
    "http_host": re.compile(r"^(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+(?::[0-9]+)?$|^localhost(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"),
}
_RESPONSE_KINDS: dict[str, re.Pattern[str]] = {
    "sent_http_strict_transport_security": re.compile(r"(?i)^max-age="),
    "sent_http_location": re.compile(r"^(?:https?://|/)"),
}
#: `option httplog clf` writes the captured headers as quoted strings after the rest, request and response alike.
QUOTED = "captured_quoted_headers"
_BLOCKS = {
    "captured_request_headers": _REQUEST_KINDS,
    "captured_response_headers": _RESPONSE_KINDS,
    QUOTED: {**_RESPONSE_KINDS, **_REQUEST_KINDS},
}
_QUOTED_VALUE = re.compile(r'"([^"]*)"')


def _values(block: str, text: str) -> list[str]:
    return _QUOTED_VALUE.findall(text) if block == QUOTED else text.split("|")


MOST = 0.8  # the share of a position's non-empty sample values that must fit a kind


def _kind(values: list[str], kinds: Mapping[str, re.Pattern[str]], taken: set[str]) -> str | None:
    filled = [v for v in values if v not in ("", "-")]
    if not filled:
        return None
    for name, pattern in kinds.items():
        if name not in taken and sum(bool(pattern.search(v)) for v in filled) >= MOST * len(filled):
            return name
    return None


def fit_captures(blocks: pl.DataFrame) -> tuple[tuple[str, str, int], ...]:
    """(variable, block, position) for each captured position whose sample values say what it holds.

    `blocks` holds the sample lines' captured-header blocks (columns `captured_request_headers` and, where
    logged, `captured_response_headers`). A User-Agent wins over a host name where both would fit."""
    found: list[tuple[str, str, int]] = []
    for block, kinds in _BLOCKS.items():
        if block not in blocks.columns:
            continue
        rows = [_values(block, v) for v in blocks[block].drop_nulls().to_list()]
        width = max((len(r) for r in rows), default=0)
        taken: set[str] = set()
        unnamed = []
        for position in range(width):
            values = [r[position] if position < len(r) else "" for r in rows]
            name = _kind(values, kinds, taken)
            if name is not None:
                taken.add(name)
                found.append((name, block, position))
            elif any(re.search(r"[A-Za-z]", v) for v in values):
                unnamed.append(position)
        # A bare program name (`node`, `undici`) fits no pattern; a request block's one position of text that
        # nothing else claims is the User-Agent, the header HAProxy users capture most.
        if block != "captured_response_headers" and "http_user_agent" not in taken and len(unnamed) == 1:
            found.append(("http_user_agent", block, unnamed[0]))
    return tuple(found)


def capture_columns(captures: tuple[tuple[str, str, int], ...]) -> dict[str, pl.Expr]:
    """The expressions that read each decided position from its block, as the variable it holds."""

    def value(block: str, position: int) -> pl.Expr:
        if block == QUOTED:
            return pl.col(block).str.extract_all(r'"[^"]*"').list.get(position, null_on_oob=True).str.strip_chars('"')
        return pl.col(block).str.split("|").list.get(position, null_on_oob=True)

    return {name: value(block, position) for name, block, position in captures}
