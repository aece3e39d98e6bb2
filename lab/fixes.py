"""logscope's fix snippets (logscope/data/fixes.toml), made to fit a lab case's configuration.

A snippet is written for an operator: `your-server.example` stands for their host name, `mcp_backend`
for their MCP server's address, `replica-a:8000` and `replica-b:8000` for two replicas of it. Those
names are all that is changed here; the rest of the text goes into the case's configuration as
logscope prints it.
"""

from __future__ import annotations

from logscope.detectors import fixes


def fix_snippet(code: str, server: str, host: str, backends: list[str]) -> str:
    snippet = fixes().get(code, {}).get(server)
    if snippet is None:
        raise KeyError(f"logscope/data/fixes.toml has no {server} fix for {code}")
    names = {"your-server.example": host, "mcp_backend": backends[0], "replica-a:8000": backends[0], "replica-b:8000": backends[-1]}
    for placeholder, value in names.items():
        snippet = snippet.replace(placeholder, value)
    return snippet
