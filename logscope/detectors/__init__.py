"""Detectors: small, independent functions over the flow frames, each naming one failure mode.

A detector takes a `Context` and returns findings (usually none or one). Each module here defines some
(redirects, sessions, auth, statuses, security, coverage) and registers them in `DETECTORS` with the
`detector` decorator of registry.py; `run_detectors` runs them all. Codes and fields follow
docs/model.md; fixes come from data/fixes.toml.
"""

# Importing the modules registers their detectors, in this order (the order findings of equal rank are listed).
from . import coverage, redirects, security, sessions  # noqa: F401, I001 - registration order, not alphabetical
from . import auth, statuses  # noqa: F401
from .registry import (
    DETECTORS,
    FAILING,
    MAX_EVIDENCE,
    SERVER_LEVEL,
    SERVERS,
    SEVERITIES,
    Context,
    Detector,
    Evidence,
    Finding,
    at_least,
    describe_all,
    detector,
    edge_name,
    edges,
    fixes,
    request_text,
    run_detectors,
    select_all,
    server_fixes,
    severity_rank,
    short_fix,
)

__all__ = [
    "DETECTORS",
    "FAILING",
    "MAX_EVIDENCE",
    "SERVERS",
    "SERVER_LEVEL",
    "SEVERITIES",
    "Context",
    "Detector",
    "Evidence",
    "Finding",
    "at_least",
    "describe_all",
    "detector",
    "edge_name",
    "edges",
    "fixes",
    "request_text",
    "run_detectors",
    "select_all",
    "server_fixes",
    "severity_rank",
    "short_fix",
]
