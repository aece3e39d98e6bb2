"""logscope: which clients reach your MCP / JSON-RPC server, which fail, why, and the fix.

Public API (used by the CLI, the notebooks and the tests alike):

    from logscope import read_logs, FormatChoice, build_report
    ingest = read_logs(["access.log", "access.log.1.gz"])
    ingest.requests      # one Polars frame, canonical columns (logscope.schema.CANONICAL)
    ingest.inputs        # per input: format, lines, parsed, rejected, samples
"""

from typing import TYPE_CHECKING, Any

from .errors import FormatError, InputError, LogscopeError
from .version import __version__

if TYPE_CHECKING:
    from .formats import FormatChoice
    from .ingest import Ingest, InputReport, read_logs
    from .report.json_report import build_report
    from .schema import CANONICAL

# The engine (Polars) is imported when a name needs it, not when the package is: `logscope --version`
# stays fast.
_LAZY = {
    "CANONICAL": "schema",
    "FormatChoice": "formats",
    "Ingest": "ingest",
    "InputReport": "ingest",
    "read_logs": "ingest",
    "build_report": "report.json_report",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'logscope' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_LAZY[name]}", __name__), name)


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
