"""What the sessionizer is told: the attempt gap, the stuck threshold, the MCP endpoint's paths, whether to
trust X-Forwarded-For. Checked once here, for every command that builds flows."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..choices import ATTEMPT_GAP_S, STUCK_AFTER
from ..errors import LogscopeError


@cache
def endpoint_rules() -> dict[str, Any]:
    return tomllib.loads(resources.files("logscope.data").joinpath("endpoints.toml").read_text("utf-8"))


@dataclass(frozen=True)
class FlowOptions:
    attempt_gap_s: float = ATTEMPT_GAP_S
    stuck_after: int = STUCK_AFTER
    endpoints: tuple[str, ...] = ()  # globs; empty means the defaults in data/endpoints.toml
    follow_window_s: float = 5.0  # a redirect followed to the same path within this was HTTP -> HTTPS
    trust_forwarded: bool = False  # the client is X-Forwarded-For's first address / Caddy's client_ip

    def __post_init__(self) -> None:
        # NaN compares false with everything, and infinity is no gap: both are refused here, once for every command.
        if not (math.isfinite(self.attempt_gap_s) and self.attempt_gap_s > 0):
            raise LogscopeError(f"--attempt-gap takes a number of seconds above 0, not {self.attempt_gap_s}")
        if self.stuck_after < 1:
            raise LogscopeError(f"--stuck-after takes a number of failed attempts, 1 or more, not {self.stuck_after}")
        if not (math.isfinite(self.follow_window_s) and self.follow_window_s >= 0):
            raise LogscopeError(f"the follow window takes a number of seconds, not {self.follow_window_s}")

    @property
    def endpoint_globs(self) -> tuple[str, ...]:
        return self.endpoints or tuple(endpoint_rules()["endpoint"])


def glob_regex(globs: Sequence[str]) -> str:
    """One anchored regex for path globs, where `*` matches anything (slashes included)."""
    parts = [".*".join(re.escape(piece) for piece in g.split("*")) for g in globs]
    return "^(?:" + "|".join(parts) + ")$"
