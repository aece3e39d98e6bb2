"""The choices an operator names on the command line, importable without the engine: `logscope --help`
and `--version` must not wait for Polars."""

from __future__ import annotations

FAMILIES = ("auto", "nginx", "apache", "caddy", "traefik", "json")  # --format
SEVERITIES = ("critical", "high", "medium", "low", "info")  # --fail-on, most severe first
