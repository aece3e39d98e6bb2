"""Flows: the requests made into clients, attempts and outcomes.

- rules.py: the rules (attempt boundary, deciding request, success, outcome, transport, session), as
  partial -> combine -> finish over Polars expressions; every runner drives them.
- sessionize.py: annotate the requests (role, start, client links) and number the attempts.
- transport.py: does the server redirect plain HTTP, logged or inferred.
- keys.py: how requests are numbered and linked fast (speed tricks, no rules).
- options.py: what the sessionizer is told (FlowOptions).
"""

from . import rules
from .keys import PAIR_BASE, client_id, pair_key
from .options import FlowOptions, endpoint_rules, glob_regex
from .rules import MAX_PATHS, SSE_PATH, STATUS_CLASSES, outcome_rule
from .sessionize import Flows, annotate, build_flows, forwarded_client, neighbours, redirect_counts
from .transport import (
    REDIRECTS,
    RedirectCounts,
    ServerTransport,
    facts_from_rows,
    inferred_redirect_rows,
    location_path,
    redirect_candidates,
    redirecting_inputs,
    server_transport,
    transport_fact_rows,
    transport_facts,
)

__all__ = [
    "MAX_PATHS", "PAIR_BASE", "REDIRECTS", "SSE_PATH", "STATUS_CLASSES", "FlowOptions", "Flows", "RedirectCounts",
    "ServerTransport", "annotate", "build_flows", "client_id", "endpoint_rules", "facts_from_rows", "forwarded_client",
    "glob_regex", "inferred_redirect_rows", "location_path", "neighbours", "outcome_rule", "pair_key",
    "redirect_candidates", "redirect_counts", "redirecting_inputs", "rules", "server_transport", "transport_fact_rows",
    "transport_facts",
]  # fmt: skip
