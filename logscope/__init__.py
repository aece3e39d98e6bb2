"""logscope: which clients reach your MCP / JSON-RPC server, which fail, why, and the fix.

Public API (used by the CLI, the notebooks and the tests alike):

    from logscope import read_logs, FormatChoice, build_report
    ingest = read_logs(["access.log", "access.log.1.gz"])
    ingest.requests      # one Polars frame, canonical columns (logscope.schema.CANONICAL)
    ingest.inputs        # per input: format, lines, parsed, rejected, samples
"""

__version__ = "0.1.0"

from .errors import FormatError, InputError, LogscopeError
from .formats import FormatChoice
from .ingest import Ingest, InputReport, read_logs
from .report import build_report
from .schema import CANONICAL

__all__ = [
    "CANONICAL",
    "FormatChoice",
    "FormatError",
    "Ingest",
    "InputError",
    "InputReport",
    "LogscopeError",
    "__version__",
    "build_report",
    "read_logs",
]
