"""logscope's fix snippets (logscope/data/fixes.toml), made to fit a lab case's configuration.

A snippet is written for an operator: `your-server.example` stands for their host name. That is the
only thing changed here; the rest of the text goes into the case's configuration as it is printed.
"""

from __future__ import annotations

from logscope.detectors import fixes

PLACEHOLDER = "your-server.example"


def fix_snippet(code: str, server: str, host: str) -> str:
    snippet = fixes().get(code, {}).get(server)
    if snippet is None:
        raise KeyError(f"logscope/data/fixes.toml has no {server} fix for {code}")
    return snippet.replace(PLACEHOLDER, host)
