"""Command line: parses arguments and calls the library. No analysis happens here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__
from .analysis import analyze as run_analysis
from .detectors import SEVERITIES
from .errors import LogscopeError
from .flows import FlowOptions
from .formats import FAMILIES, FormatChoice
from .report import build_report, write_json
from .terminal import print_summary

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Find the clients your MCP / JSON-RPC server is failing, from its access logs."
)


def _version(value: bool) -> None:
    if value:
        print(f"logscope {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = None,  # noqa: UP045
) -> None:
    """logscope reads web-server access logs."""


@app.command()
def analyze(
    logs: Annotated[list[str], typer.Argument(help="Access logs: files, globs, .gz, or - for standard input.", show_default=False)],
    format: Annotated[str, typer.Option("--format", "-f", help=f"Input format: {', '.join(FAMILIES)}.")] = "auto",
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="nginx log_format text (or Apache LogFormat, or a preset name such as combined).")
    ] = None,
    nginx_conf: Annotated[Optional[Path], typer.Option("--nginx-conf", help="Read the log_format from this nginx config.")] = None,  # noqa: UP045
    log_format_name: Annotated[Optional[str], typer.Option("--log-format-name", help="Which log_format of --nginx-conf to use.")] = None,  # noqa: UP045
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="JSON logs: map a canonical column to a key, e.g. client_ip=real_ip (repeatable)."),
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of timestamps logged without an offset.")] = "UTC",
    attempt_gap: Annotated[float, typer.Option("--attempt-gap", help="Seconds of silence that end a connection attempt.")] = 30.0,
    stuck_after: Annotated[
        int, typer.Option("--stuck-after", help="Failed attempts, with none successful, that make a client stuck.")
    ] = 10,
    endpoint: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--endpoint", help="MCP endpoint path glob, e.g. '/api/mcp*' (repeatable; replaces the defaults)."),
    ] = None,
    fail_on: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--fail-on", help=f"Exit 1 if a finding at or above this severity exists: {', '.join(SEVERITIES)}."),
    ] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the JSON report to this path (- for standard output).")] = None,  # noqa: UP045
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No terminal summary.")] = False,
) -> None:
    """Parse the logs and summarise who reaches the server and what fails."""
    # With the JSON on standard output, the human summary goes to standard error.
    console = Console(stderr=json_out == "-", highlight=False)
    if not console.is_terminal:
        console.width = 160  # no terminal to fit: do not wrap a pasted or piped summary at 80 columns
    try:
        if fail_on is not None and fail_on not in SEVERITIES:
            raise LogscopeError(f"--fail-on takes one of {', '.join(SEVERITIES)}, not {fail_on!r}")
        if attempt_gap <= 0 or stuck_after < 1:
            raise LogscopeError("--attempt-gap must be above 0 and --stuck-after at least 1")
        choice = FormatChoice(format, log_format, nginx_conf, log_format_name, tuple(field or ()))
        options = FlowOptions(attempt_gap_s=attempt_gap, stuck_after=stuck_after, endpoints=tuple(endpoint or ()))
        analysis = run_analysis(logs, choice, options, naive_tz=timezone)
        report = build_report(analysis)
        if json_out:
            write_json(report, json_out)
    except LogscopeError as exc:
        _fail(str(exc))
    except OSError as exc:  # e.g. the --json destination cannot be written
        _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    if not quiet:
        print_summary(report, console)
    if fail_on is not None and analysis.findings_at_or_above(fail_on):
        raise typer.Exit(1)


def _fail(message: str) -> None:
    print(f"logscope: error: {message}", file=sys.stderr)
    raise typer.Exit(2)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        print("logscope: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
