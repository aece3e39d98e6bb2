"""The choices an operator names on the command line, importable without the engine: `logscope --help`
and `--version` must not wait for Polars."""

from __future__ import annotations

#: --format: the families logscope reads (an edge's family is its own name, as in the report's `format`).
FAMILIES = (
    "auto",
    "nginx",
    "apache",
    "caddy",
    "traefik",
    "json",
    "haproxy",
    "envoy",
    "aws-alb",
    "aws-elb",
    "cloudfront",
    "cloudflare",
    "gcp-lb",
    "azure",
    "w3c",
)
SEVERITIES = ("critical", "high", "medium", "low", "info")  # --fail-on, most severe first
ATTEMPT_GAP_S = 30.0  # --attempt-gap: seconds of silence that end a connection attempt (FlowOptions' default)
STUCK_AFTER = 10  # --stuck-after: failed attempts, none successful, that make a client stuck
