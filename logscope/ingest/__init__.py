"""Ingest: access logs (or a store `logscope convert` wrote) into one canonical Polars frame, every line
accounted for.

`read_logs` is the entry point the CLI, notebooks and tests share. Each input is read in blocks, its
format detected from its first lines, every block parsed with vectorised expressions (logs.py), and the
inputs merged in time order, ties in input order (result.py); a store is read back without parsing
(stores.py). Every line is either parsed or rejected with a reason; a few rejected lines per input are
kept as samples for the report.
"""

from .logs import (
    MAX_REJECTED_SAMPLES,
    InputParser,
    check_not_empty,
    detect_input,
    parse_inputs,
    read_input,
    read_logs,
    read_range,
)
from .result import Ingest, InputReport, ProgressHook, RejectedLine, input_position, log_order, merge_in_time_order, merge_reports
from .threads import in_order_on_threads

__all__ = [
    "MAX_REJECTED_SAMPLES",
    "Ingest",
    "InputParser",
    "InputReport",
    "ProgressHook",
    "RejectedLine",
    "check_not_empty",
    "detect_input",
    "in_order_on_threads",
    "input_position",
    "log_order",
    "merge_in_time_order",
    "merge_reports",
    "parse_inputs",
    "read_input",
    "read_logs",
    "read_range",
]
