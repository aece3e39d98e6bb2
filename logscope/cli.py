"""Command line: parses arguments and calls the library. No analysis happens here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__
from .errors import LogscopeError
from .formats import FAMILIES, FormatChoice
from .ingest import read_logs
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
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the JSON report to this path (- for standard output).")] = None,  # noqa: UP045
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No terminal summary.")] = False,
) -> None:
    """Parse the logs and summarise who reaches the server and what fails."""
    # With the JSON on standard output, the human summary goes to standard error.
    console = Console(stderr=json_out == "-", highlight=False)
    try:
        choice = FormatChoice(format, log_format, nginx_conf, log_format_name, tuple(field or ()))
        ingest = read_logs(logs, choice, naive_tz=timezone)
        report = build_report(ingest)
        if json_out:
            write_json(report, json_out)
    except LogscopeError as exc:
        _fail(str(exc))
    except OSError as exc:  # e.g. the --json destination cannot be written
        _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    if not quiet:
        print_summary(report, console)


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
