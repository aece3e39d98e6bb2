"""Command line: parses arguments and calls the library. No analysis happens here.

As sqlite-utils does it: each option is declared once, as an `Annotated` alias that every command using it
shares, with its checks in the option's own callback; each command is a few lines around one library call;
errors reach the operator through one handler (`run`), as one line and exit status 2. Each command imports the
library it calls when it runs, so `--help` and `--version` do not load the engine (Polars alone takes 0.3 s to
import here)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .choices import ATTEMPT_GAP_S, FAMILIES, SEVERITIES, STUCK_AFTER
from .errors import LogscopeError
from .version import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from .flows import FlowOptions

DEFAULT_HTML = "logscope-report.html"
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich's formatter costs a tenth of a second to import
    pretty_exceptions_enable=False,  # `run` says what went wrong in one line
    help="Find the clients your MCP / JSON-RPC server is failing, from its access logs; check the fix from outside.",
)


# --- checks, run while the arguments are parsed --------------------------------------------------------------


def _severity(value: str | None) -> str | None:
    if value is not None and value not in SEVERITIES:
        raise LogscopeError(f"--fail-on takes one of {', '.join(SEVERITIES)}, not {value!r}")
    return value


def _entries(value: int) -> int:
    if value < 1:
        raise LogscopeError(f"--top takes a number of entries, 1 or more, not {value}")
    return value


def _directory(param: typer.CallbackParam, value: Path | None) -> Path | None:
    if value is not None and not value.is_dir():
        raise LogscopeError(f"{param.opts[0]} {value}: not a directory")
    return value


def _file(param: typer.CallbackParam, value: Path | None) -> Path | None:
    if value is not None and not value.is_file():
        raise LogscopeError(f"{param.opts[0]} {value}: no such file")
    return value


def _spill_dir(value: str | None) -> str | None:
    from .runners.spill import check_spill_dir

    check_spill_dir(value)
    return value


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if m is None:
        raise LogscopeError(f"--forget-after takes a duration such as 90s, 30m, 24h or 7d, not {text!r}")
    return timedelta(seconds=float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


# --- the options, each declared once -------------------------------------------------------------------------

Logs = Annotated[list[str], typer.Argument(help="Access logs: files, globs, .gz, URLs, or - for standard input.", show_default=False)]
Format = Annotated[str, typer.Option("--format", "-f", help=f"Input format: {', '.join(FAMILIES)}.")]
LogFormat = Annotated[
    str | None, typer.Option("--log-format", help="nginx log_format text, Apache LogFormat, HAProxy log-format, or a preset name.")
]
NginxConf = Annotated[Path | None, typer.Option("--nginx-conf", help="Read the log_format from this nginx config.")]
LogFormatName = Annotated[str | None, typer.Option("--log-format-name", help="Which log_format of --nginx-conf to use.")]
Fields = Annotated[
    list[str] | None, typer.Option("--field", help="JSON logs: map a canonical column to a key, e.g. client_ip=real_ip (repeatable).")
]
Timezone = Annotated[str, typer.Option("--timezone", help="Time zone of timestamps logged without an offset.")]
AttemptGap = Annotated[float, typer.Option("--attempt-gap", help="Seconds of silence that end a connection attempt.")]
StuckAfter = Annotated[int, typer.Option("--stuck-after", help="Failed attempts, with none successful, that make a client stuck.")]
Endpoints = Annotated[
    list[str] | None, typer.Option("--endpoint", help="MCP endpoint path glob, e.g. '/api/mcp*' (repeatable; replaces the defaults).")
]
TrustForwarded = Annotated[
    bool, typer.Option("--trust-forwarded", help="Take the client address from X-Forwarded-For / Caddy's client_ip (behind a proxy).")
]
Anonymize = Annotated[bool, typer.Option("--anonymize", help="Replace client addresses with stable pseudonyms in every output.")]
FailOn = Annotated[
    str | None, typer.Option("--fail-on", help=f"Exit 1 on a finding at or above: {', '.join(SEVERITIES)}.", callback=_severity)
]
JsonOut = Annotated[str | None, typer.Option("--json", help="Write the result as JSON to this path (- for standard output).")]
Top = Annotated[int, typer.Option("--top", help="Entries per list in the terminal summary.", callback=_entries)]
Scheduler = Annotated[
    str | None,
    typer.Option("--scheduler", help="Run on this Dask scheduler (tcp://host:8786, default $DASK_SCHEDULER_ADDRESS) or local[:N] workers."),
]


def _console(json_out: str | None) -> Console:
    """The terminal summary's console: on standard error when the JSON goes to standard output."""
    from rich.console import Console

    console = Console(stderr=json_out == "-", highlight=False)
    if not console.is_terminal:
        console.width = 160  # no terminal to fit: do not wrap a pasted or piped summary at 80 columns
    return console


def _flow_options(attempt_gap: float, stuck_after: int, endpoint: list[str] | None = None, trust_forwarded: bool = False) -> FlowOptions:
    from .flows import FlowOptions  # checks its own values: NaN, infinity, zero and negatives are refused

    return FlowOptions(attempt_gap_s=attempt_gap, stuck_after=stuck_after, endpoints=tuple(endpoint or ()), trust_forwarded=trust_forwarded)


def _version(value: bool) -> None:
    if value:
        print(f"logscope {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = None,
) -> None:
    """logscope reads web-server access logs."""


@app.command()
def analyze(
    logs: Logs,
    format: Format = "auto",
    log_format: LogFormat = None,
    nginx_conf: NginxConf = None,
    log_format_name: LogFormatName = None,
    field: Fields = None,
    timezone: Timezone = "UTC",
    attempt_gap: AttemptGap = ATTEMPT_GAP_S,
    stuck_after: StuckAfter = STUCK_AFTER,
    endpoint: Endpoints = None,
    fail_on: FailOn = None,
    trust_forwarded: TrustForwarded = False,
    anonymize: Anonymize = False,
    asn_db: Annotated[
        Path | None,
        typer.Option("--asn-db", help="A MaxMind-format ASN database (GeoLite2-ASN, DB-IP ASN lite, IPinfo lite).", callback=_file),
    ] = None,
    networks_dir: Annotated[
        Path | None, typer.Option("--networks-dir", help="Provider range files (default: `networks update`'s).", callback=_directory)
    ] = None,
    html_out: Annotated[str | None, typer.Option("--html", help=f"Write the HTML report here (default: {DEFAULT_HTML}).")] = None,
    no_html: Annotated[bool, typer.Option("--no-html", help="Do not write the HTML report.")] = False,
    json_out: JsonOut = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No terminal summary.")] = False,
    top: Top = 20,
    shards: Annotated[
        int | None, typer.Option("--shards", help="Read the logs in this many shards of clients, one in memory at a time.")
    ] = None,
    spill_dir: Annotated[
        str | None,
        typer.Option("--spill-dir", help="Where shards go while analysed: a directory or a URL (s3://bucket/prefix).", callback=_spill_dir),
    ] = None,
    scheduler: Scheduler = None,
) -> None:
    """Parse the logs and summarise who reaches the server and what fails."""
    from .analysis import analyze as run_analysis
    from .formats import FormatChoice
    from .inventory import networks
    from .report.html_report import write_html
    from .report.json_report import build_report, write_json
    from .report.terminal import ingest_progress, print_summary

    console = _console(json_out)
    with ingest_progress(not quiet and sys.stderr.isatty()) as progress:
        analysis = run_analysis(
            logs,
            FormatChoice(format, log_format, nginx_conf, log_format_name, tuple(field or ())),
            _flow_options(attempt_gap, stuck_after, endpoint, trust_forwarded),
            naive_tz=timezone,
            progress=progress,
            network_ranges=networks.default_ranges(networks_dir) if networks_dir is not None else None,
            anonymize=anonymize,
            asn_db=asn_db,
            shards=shards,
            spill_dir=spill_dir,
            scheduler=scheduler,
        )
    report = build_report(analysis, clients="frame")
    if json_out:
        write_json(report, json_out)
    html_path = None if no_html else write_html(analysis, report, html_out or DEFAULT_HTML)
    if not quiet:
        print_summary(report, console, top)
    if html_path is not None:
        print(f"HTML report: {html_path}", file=sys.stderr)
    if fail_on is not None and analysis.findings_at_or_above(fail_on):
        raise typer.Exit(1)


@app.command()
def convert(
    logs: Logs,
    out: Annotated[Path, typer.Option("--out", help="Directory for the Parquet store (one partition per day).")],
    format: Format = "auto",
    log_format: LogFormat = None,
    timezone: Timezone = "UTC",
    scheduler: Scheduler = None,
    shards: Annotated[
        int | None, typer.Option("--shards", help="Client partitions in each day (default with --scheduler: two per worker).")
    ] = None,
) -> None:
    """Parse logs once into a Parquet store that `logscope analyze DIR` reads without parsing."""
    from .formats import FormatChoice
    from .runners.convert import convert_logs

    requests, inputs = convert_logs(logs, out, FormatChoice(format, log_format), naive_tz=timezone, scheduler=scheduler, partitions=shards)
    days = len(list(out.glob("day=*")))
    clients = len({p.name for p in out.glob("day=*/client=*")})
    parts = f"{days} day partitions" + (f", {clients} client partitions in each" if clients else "")
    print(f"{requests:,} requests from {len(inputs)} input(s) written to {out} ({parts})")


networks_app = typer.Typer(no_args_is_help=True, help="Published provider IP ranges that name client networks.")
app.add_typer(networks_app, name="networks")


@networks_app.command("update")
def networks_update(
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to store the files (default: the user cache).")] = None,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Fetch every file from this base URL instead of the providers.")] = None,
) -> None:
    """Download the providers' published range files; `analyze` uses them from then on."""
    from .inventory import networks

    results = networks.update(directory, mirror)
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        print(f"{mark} {r.source.network:<13} {r.source.file:<28} {r.detail}")
    print(f"{sum(r.ok for r in results)} of {len(results)} sources stored in {directory or networks.cache_dir()}")
    if not any(r.ok for r in results):
        raise typer.Exit(1)


@networks_app.command("lookup")
def networks_lookup(
    addresses: Annotated[list[str], typer.Argument(help="IP addresses.")],
    directory: Annotated[Path | None, typer.Option("--dir", help="Range files to use (default: the user cache).")] = None,
) -> None:
    """Who owns these addresses, by the stored ranges."""
    import polars as pl

    from .inventory import networks

    found = networks.lookup(pl.Series(addresses, dtype=pl.String), networks.default_ranges(directory))
    for row in found.iter_rows(named=True):
        detail = ", ".join(str(row[k]) for k in ("service", "region", "country") if row[k])
        asn = f" AS{row['asn']}" if row["asn"] else ""
        print(f"{row['ip']:<40} {row['network'] or '-'}{asn}{' (' + detail + ')' if detail else ''}")


@app.command()
def watch(
    logs: Logs,
    format: Format = "auto",
    log_format: LogFormat = None,
    nginx_conf: NginxConf = None,
    log_format_name: LogFormatName = None,
    field: Fields = None,
    timezone: Timezone = "UTC",
    attempt_gap: AttemptGap = ATTEMPT_GAP_S,
    stuck_after: StuckAfter = STUCK_AFTER,
    endpoint: Endpoints = None,
    trust_forwarded: TrustForwarded = False,
    anonymize: Anonymize = False,
    from_start: Annotated[bool, typer.Option("--from-start", help="Read the files from their start first (default: their end).")] = False,
    once: Annotated[bool, typer.Option("--once", help="Stop when the inputs have no more to give, instead of following them.")] = False,
    batch: Annotated[float, typer.Option("--batch", help="Seconds of lines analysed together.")] = 1.0,
    forget_after: Annotated[str, typer.Option("--forget-after", help="Forget clients idle this long in log time (e.g. 24h, 90m).")] = "24h",
    max_clients: Annotated[int, typer.Option("--max-clients", help="Clients tracked at most; the least recently seen go first.")] = 100_000,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per event on standard output.")] = False,
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST each event as JSON to this URL.")] = None,
    metrics: Annotated[str | None, typer.Option("--metrics", help="Serve Prometheus metrics on HOST:PORT.")] = None,
) -> None:
    """Follow the logs and tell the moment a client gets stuck (the verdicts of analyze, kept up to date)."""
    from .formats import FormatChoice
    from .live import WatchOptions, run_watch

    options = WatchOptions(
        choice=FormatChoice(format, log_format, nginx_conf, log_format_name, tuple(field or ())),
        flows=_flow_options(attempt_gap, stuck_after, endpoint, trust_forwarded),
        naive_tz=timezone,
        from_start=from_start,
        once=once,
        batch_s=batch,
        forget_after=_duration(forget_after),
        max_clients=max_clients,
        anonymize=anonymize,
    )
    if run_watch(logs, options, jsonl=jsonl, webhook=webhook, metrics=metrics):
        raise typer.Exit(130)  # interrupted (Ctrl-C), after the last batch was analysed and its events sent


@app.command()
def compare(
    before: Annotated[str, typer.Argument(help="Before: a log, a glob of logs, a store, or a JSON report.", show_default=False)],
    after: Annotated[str, typer.Argument(help="After: the same kinds.", show_default=False)],
    format: Format = "auto",
    log_format: LogFormat = None,
    attempt_gap: AttemptGap = ATTEMPT_GAP_S,
    stuck_after: StuckAfter = STUCK_AFTER,
    json_out: JsonOut = None,
    html_out: Annotated[str | None, typer.Option("--html", help="Write the comparison as an HTML page.")] = None,
    fail_on: FailOn = None,
    top: Top = 10,
) -> None:
    """Did the fix work? Which clients changed outcome, which findings were resolved, which are new."""
    from .formats import FormatChoice
    from .report.compare import compare_inputs, failing_after, write_compare_html
    from .report.json_report import write_json
    from .report.terminal import print_comparison

    console = _console(json_out)
    comparison = compare_inputs(before, after, FormatChoice(format, log_format), _flow_options(attempt_gap, stuck_after))
    if json_out:
        write_json(comparison, json_out)
    if html_out:
        print(f"HTML comparison: {write_compare_html(comparison, html_out)}", file=sys.stderr)
    print_comparison(comparison, console, top)
    if fail_on is not None and failing_after(comparison, fail_on):
        raise typer.Exit(1)


@app.command()
def check(
    urls: Annotated[list[str], typer.Argument(help="MCP endpoint URLs, http:// or https://.", show_default=False)],
    cacert: Annotated[Path | None, typer.Option("--cacert", help="Verify TLS with this CA bundle (PEM).", callback=_file)] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates.")] = False,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value' sent with the MCP requests to the URLs given (never printed).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for each answer.")] = 10.0,
    tries: Annotated[int, typer.Option("--tries", help="Requests sent with one session, to meet each replica.")] = 4,
    allow_host: Annotated[
        list[str] | None, typer.Option("--allow-host", help="Another host a redirect or the OAuth metadata may lead the check to.")
    ] = None,
    json_out: JsonOut = None,
    fail_on: FailOn = None,
) -> None:
    """Does it work now? Connect to the endpoint as MCP clients do (plain HTTP, HTTPS, session, HSTS, OAuth)."""
    from .check import CheckOptions, check_json
    from .check import check as run_check
    from .report.json_report import write_json
    from .report.terminal import plain, print_check

    console = _console(json_out)
    options = CheckOptions(timeout, tries, str(cacert) if cacert else None, insecure, tuple(header or ()), tuple(allow_host or ()))
    result = run_check(urls, options)
    document = check_json(result)
    if json_out:
        write_json(document, json_out)
    if len(result.errors) < len(result.targets):
        print_check(document, console)
    for error in result.errors:  # a server's own words may be in it: no terminal controls get through
        print(f"logscope: error: {plain(error)}", file=sys.stderr)
    if result.errors:
        raise typer.Exit(2)
    if fail_on is not None and result.findings_at_or_above(fail_on):
        raise typer.Exit(1)


def run() -> None:
    """Console-script entry point, and the one place errors become the operator's one line (exit 2)."""
    try:
        app()
    except LogscopeError as exc:
        print(f"logscope: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # the reader of standard output went away
        sys.exit(1)
    except OSError as exc:  # a file that cannot be read or written, a full disk
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"logscope: error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("logscope: interrupted", file=sys.stderr)
        sys.exit(130)
