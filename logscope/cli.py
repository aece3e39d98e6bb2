"""Command line: parses arguments and calls the library. No analysis happens here.

Each command imports the library it calls when it runs, so `--help` and `--version` do not load the
engine (Polars alone takes 0.3 s to import here)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Optional

import typer

from .choices import FAMILIES, SEVERITIES
from .errors import LogscopeError
from .version import __version__

DEFAULT_HTML = "logscope-report.html"
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: rich's formatter costs a tenth of a second to import
    help="Find the clients your MCP / JSON-RPC server is failing, from its access logs.",
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
    trust_forwarded: Annotated[
        bool, typer.Option("--trust-forwarded", help="Take the client address from X-Forwarded-For / Caddy's client_ip (behind a proxy).")
    ] = False,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="Replace client addresses with stable pseudonyms in every output.")
    ] = False,
    asn_db: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--asn-db", help="A MaxMind-format ASN database (GeoLite2-ASN, DB-IP ASN lite, IPinfo lite) to name other networks."),
    ] = None,
    networks_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--networks-dir", help="Provider range files to name client networks (default: what `networks update` stored)."),
    ] = None,
    html_out: Annotated[Optional[str], typer.Option("--html", help=f"Write the HTML report here (default: {DEFAULT_HTML}).")] = None,  # noqa: UP045
    no_html: Annotated[bool, typer.Option("--no-html", help="Do not write the HTML report.")] = False,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the JSON report to this path (- for standard output).")] = None,  # noqa: UP045
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No terminal summary.")] = False,
    top: Annotated[int, typer.Option("--top", help="Entries per list in the terminal summary.")] = 20,
    shards: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--shards",
            help="Read the logs in this many shards of clients, one in memory at a time (default: whole up to 2 GiB, else 1 GiB each).",
        ),
    ] = None,
    spill_dir: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--spill-dir",
            help="Where shards go while analysed: a directory, or a URL such as s3://bucket/prefix (default: the temporary "
            "directory; on a cluster, one all workers reach).",
        ),
    ] = None,
    scheduler: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--scheduler",
            help="Analyse the shards on this Dask scheduler (tcp://host:8786, default $DASK_SCHEDULER_ADDRESS) or local[:N] workers.",
        ),
    ] = None,
) -> None:
    """Parse the logs and summarise who reaches the server and what fails."""
    from rich.console import Console

    from .analysis import analyze as run_analysis
    from .flows import FlowOptions
    from .formats import FormatChoice
    from .html_report import write_html
    from .inventory import networks
    from .report import build_report, write_json
    from .spill import is_url, local
    from .terminal import ingest_progress, print_summary

    # With the JSON on standard output, the human summary goes to standard error.
    console = Console(stderr=json_out == "-", highlight=False)
    if not console.is_terminal:
        console.width = 160  # no terminal to fit: do not wrap a pasted or piped summary at 80 columns
    try:
        if fail_on is not None and fail_on not in SEVERITIES:
            raise LogscopeError(f"--fail-on takes one of {', '.join(SEVERITIES)}, not {fail_on!r}")
        _at_least_one(top, "--top")
        choice = FormatChoice(format, log_format, nginx_conf, log_format_name, tuple(field or ()))
        options = FlowOptions(
            attempt_gap_s=attempt_gap, stuck_after=stuck_after, endpoints=tuple(endpoint or ()), trust_forwarded=trust_forwarded
        )
        if networks_dir is not None and not networks_dir.is_dir():
            raise LogscopeError(f"{networks_dir}: --networks-dir is not a directory")
        ranges = networks.default_ranges(networks_dir) if networks_dir is not None else None
        if asn_db is not None and not asn_db.is_file():
            raise LogscopeError(f"{asn_db}: no such --asn-db file")
        if spill_dir is not None and not is_url(spill_dir) and not Path(local(spill_dir)).is_dir():
            raise LogscopeError(f"{spill_dir}: --spill-dir is not a directory")
        with ingest_progress(not quiet and sys.stderr.isatty()) as progress:
            analysis = run_analysis(
                logs,
                choice,
                options,
                naive_tz=timezone,
                progress=progress,
                network_ranges=ranges,
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
    except LogscopeError as exc:
        _fail(str(exc))
    except OSError as exc:  # e.g. the --json destination cannot be written
        _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    if not quiet:
        print_summary(report, console, top)
    if html_path is not None:
        print(f"HTML report: {html_path}", file=sys.stderr)
    if fail_on is not None and analysis.findings_at_or_above(fail_on):
        raise typer.Exit(1)


@app.command()
def convert(
    logs: Annotated[list[str], typer.Argument(help="Access logs: files, globs, .gz, or - for standard input.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Directory for the Parquet store (one partition per day).")],
    format: Annotated[str, typer.Option("--format", "-f", help=f"Input format: {', '.join(FAMILIES)}.")] = "auto",
    log_format: Annotated[Optional[str], typer.Option("--log-format", help="nginx log_format text, Apache LogFormat or a preset.")] = None,  # noqa: UP045
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of timestamps logged without an offset.")] = "UTC",
    scheduler: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--scheduler", help="Parse on this Dask scheduler (or local[:N]), into partitions by day and client."),
    ] = None,
    shards: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--shards", help="Client partitions in each day (default with --scheduler: two per worker)."),
    ] = None,
) -> None:
    """Parse logs once into a Parquet store that `logscope analyze DIR` reads without parsing."""
    from .convert import convert_logs
    from .formats import FormatChoice

    try:
        choice = FormatChoice(format, log_format)
        requests, inputs = convert_logs(logs, out, choice, naive_tz=timezone, scheduler=scheduler, partitions=shards)
    except LogscopeError as exc:
        _fail(str(exc))
    except OSError as exc:  # e.g. the disk is full
        _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    days = len(list(out.glob("day=*")))
    clients = len({p.name for p in out.glob("day=*/client=*")})
    parts = f"{days} day partitions" + (f", {clients} client partitions in each" if clients else "")
    print(f"{requests:,} requests from {len(inputs)} input(s) written to {out} ({parts})")


networks_app = typer.Typer(no_args_is_help=True, help="Published provider IP ranges that name client networks.")
app.add_typer(networks_app, name="networks")


@networks_app.command("update")
def networks_update(
    directory: Annotated[Optional[Path], typer.Option("--dir", help="Where to store the files (default: the user cache).")] = None,  # noqa: UP045
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="Fetch every file from this base URL instead of the providers.")] = None,  # noqa: UP045
) -> None:
    """Download the providers' published range files; `analyze` uses them from then on."""
    from .inventory import networks

    results = networks.update(directory, mirror)
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        print(f"{mark} {r.source.network:<13} {r.source.file:<28} {r.detail}")
    target = directory or networks.cache_dir()
    print(f"{sum(r.ok for r in results)} of {len(results)} sources stored in {target}")
    if not any(r.ok for r in results):
        raise typer.Exit(1)


@networks_app.command("lookup")
def networks_lookup(
    addresses: Annotated[list[str], typer.Argument(help="IP addresses.")],
    directory: Annotated[Optional[Path], typer.Option("--dir", help="Range files to use (default: the user cache).")] = None,  # noqa: UP045
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
    logs: Annotated[list[str], typer.Argument(help="Access logs to follow: files, globs, or - for standard input.", show_default=False)],
    format: Annotated[str, typer.Option("--format", "-f", help=f"Input format: {', '.join(FAMILIES)}.")] = "auto",
    log_format: Annotated[Optional[str], typer.Option("--log-format", help="nginx log_format text, Apache LogFormat or a preset.")] = None,  # noqa: UP045
    nginx_conf: Annotated[Optional[Path], typer.Option("--nginx-conf", help="Read the log_format from this nginx config.")] = None,  # noqa: UP045
    log_format_name: Annotated[Optional[str], typer.Option("--log-format-name", help="Which log_format of --nginx-conf to use.")] = None,  # noqa: UP045
    field: Annotated[Optional[list[str]], typer.Option("--field", help="JSON logs: map a canonical column to a key (repeatable).")] = None,  # noqa: UP045
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of timestamps logged without an offset.")] = "UTC",
    attempt_gap: Annotated[float, typer.Option("--attempt-gap", help="Seconds of silence that end a connection attempt.")] = 30.0,
    stuck_after: Annotated[int, typer.Option("--stuck-after", help="Failed attempts, none successful, that make a client stuck.")] = 10,
    endpoint: Annotated[
        list[str] | None, typer.Option("--endpoint", help="MCP endpoint path glob (repeatable; replaces the defaults).")
    ] = None,
    trust_forwarded: Annotated[bool, typer.Option("--trust-forwarded", help="Take the client address from X-Forwarded-For.")] = False,
    anonymize: Annotated[bool, typer.Option("--anonymize", help="Replace client addresses with stable pseudonyms.")] = False,
    from_start: Annotated[bool, typer.Option("--from-start", help="Read the files from their start first (default: their end).")] = False,
    once: Annotated[
        bool, typer.Option("--once", help="Stop when the inputs have nothing more to give, instead of following them.")
    ] = False,
    batch: Annotated[float, typer.Option("--batch", help="Seconds of lines analysed together.")] = 1.0,
    forget_after: Annotated[str, typer.Option("--forget-after", help="Forget clients idle this long in log time (e.g. 24h, 90m).")] = "24h",
    max_clients: Annotated[int, typer.Option("--max-clients", help="Clients tracked at most; the least recently seen go first.")] = 100_000,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per event on standard output.")] = False,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST each event as JSON to this URL.")] = None,  # noqa: UP045
    metrics: Annotated[Optional[str], typer.Option("--metrics", help="Serve Prometheus metrics on HOST:PORT.")] = None,  # noqa: UP045
) -> None:
    """Follow the logs and tell the moment a client gets stuck (the verdicts of analyze, kept up to date)."""
    import signal
    import threading

    from rich.console import Console

    from .flows import FlowOptions
    from .formats import FormatChoice
    from .live import Watch, WatchOptions
    from .live.sinks import JsonLines, LiveView, Metrics, PlainLines, Webhook

    sinks: list = []
    hook = None
    interrupted = threading.Event()  # by Ctrl-C (SIGINT)
    try:
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise LogscopeError(f"--webhook takes an http:// or https:// URL, not {webhook!r}")
        options = WatchOptions(
            choice=FormatChoice(format, log_format, nginx_conf, log_format_name, tuple(field or ())),
            flows=FlowOptions(
                attempt_gap_s=attempt_gap, stuck_after=stuck_after, endpoints=tuple(endpoint or ()), trust_forwarded=trust_forwarded
            ),
            naive_tz=timezone,
            from_start=from_start,
            once=once,
            batch_s=batch,
            forget_after=_duration(forget_after, "--forget-after"),
            max_clients=max_clients,
            anonymize=anonymize,
        )
        hook = Webhook(webhook) if webhook else None
        sinks = [JsonLines(sys.stdout) if jsonl else LiveView(Console(highlight=False)) if sys.stdout.isatty() else PlainLines(sys.stdout)]
        sinks += [s for s in (hook, Metrics(metrics, hook) if metrics else None) if s is not None]
        watcher = Watch(logs, options, sinks, on_note=lambda note: print(f"logscope: {note}", file=sys.stderr))

        def interrupt(*_: object) -> None:
            interrupted.set()
            watcher.stop.set()

        # SIGTERM and Ctrl-C both end the watch the same way: the last batch is analysed and its events sent (an
        # exception raised wherever Ctrl-C fell would skip that); Ctrl-C then exits 130, as an interrupted command.
        signal.signal(signal.SIGTERM, lambda *_: watcher.stop.set())
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGHUP, lambda *_: watcher.reopen.set())
        watcher.run()
    except LogscopeError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    finally:
        for sink in sinks:
            sink.close()
        if hook is not None and hook.dropped:
            print(
                f"logscope: the webhook did not deliver {hook.dropped:,} event(s) (retries run out, or still queued at exit)",
                file=sys.stderr,
            )
    if interrupted.is_set():
        raise typer.Exit(130)


@app.command()
def compare(
    before: Annotated[str, typer.Argument(help="Before: a log, a glob of logs, a store, or a JSON report.", show_default=False)],
    after: Annotated[str, typer.Argument(help="After: the same kinds.", show_default=False)],
    format: Annotated[str, typer.Option("--format", "-f", help=f"Input format of logs: {', '.join(FAMILIES)}.")] = "auto",
    log_format: Annotated[Optional[str], typer.Option("--log-format", help="nginx log_format text, Apache LogFormat or a preset.")] = None,  # noqa: UP045
    attempt_gap: Annotated[float, typer.Option("--attempt-gap", help="Seconds of silence that end a connection attempt.")] = 30.0,
    stuck_after: Annotated[int, typer.Option("--stuck-after", help="Failed attempts, none successful, that make a client stuck.")] = 10,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the comparison as JSON (- for standard output).")] = None,  # noqa: UP045
    html_out: Annotated[Optional[str], typer.Option("--html", help="Write the comparison as an HTML page.")] = None,  # noqa: UP045
    fail_on: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--fail-on", help="Exit 1 if a finding at or above this severity is new or persists, or a client got worse."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Clients listed per change in the summary.")] = 10,
) -> None:
    """Did the fix work? Which clients changed outcome, which findings were resolved, which are new."""
    from rich.console import Console

    from .analysis import analyze as run_analysis
    from .compare import compare as compare_reports
    from .compare import failing_after, read_report, write_compare_html
    from .flows import FlowOptions
    from .formats import FormatChoice
    from .report import build_report, write_json
    from .terminal import print_comparison

    console = Console(stderr=json_out == "-", highlight=False)
    try:
        if fail_on is not None and fail_on not in SEVERITIES:
            raise LogscopeError(f"--fail-on takes one of {', '.join(SEVERITIES)}, not {fail_on!r}")
        _at_least_one(top, "--top")
        choice = FormatChoice(format, log_format)
        options = FlowOptions(attempt_gap_s=attempt_gap, stuck_after=stuck_after)
        sides = []
        for spec in (before, after):
            report = read_report(Path(spec)) if Path(spec).is_file() else None
            sides.append(report if report is not None else build_report(run_analysis(spec, choice, options)))
        comparison = compare_reports(*sides)
        if json_out:
            write_json(comparison, json_out)
        if html_out:
            print(f"HTML comparison: {write_compare_html(comparison, html_out)}", file=sys.stderr)
    except LogscopeError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    print_comparison(comparison, console, top)
    if fail_on is not None and failing_after(comparison, fail_on):
        raise typer.Exit(1)


@app.command()
def check(
    urls: Annotated[list[str], typer.Argument(help="MCP endpoint URLs, http:// or https://.", show_default=False)],
    cacert: Annotated[Optional[str], typer.Option("--cacert", help="Verify TLS with this CA bundle (PEM).")] = None,  # noqa: UP045
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates.")] = False,
    header: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--header", "-H", help="'Name: value' sent with every MCP request to the URLs given (never printed)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for each answer.")] = 10.0,
    tries: Annotated[int, typer.Option("--tries", help="Requests sent with one session, to meet each replica.")] = 4,
    allow_host: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--allow-host", help="Another host a redirect or the OAuth metadata may lead the check to."),
    ] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the result as JSON (- for standard output).")] = None,  # noqa: UP045
    fail_on: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--fail-on", help=f"Exit 1 if a finding at or above this severity exists: {', '.join(SEVERITIES)}."),
    ] = None,
) -> None:
    """Does it work now? Connect to the endpoint as MCP clients do (plain HTTP, HTTPS, session, HSTS, OAuth)."""
    from rich.console import Console

    from .check import CheckOptions, check_json
    from .check import check as run_check
    from .report import write_json
    from .terminal import plain, print_check

    console = Console(stderr=json_out == "-", highlight=False)
    try:
        if fail_on is not None and fail_on not in SEVERITIES:
            raise LogscopeError(f"--fail-on takes one of {', '.join(SEVERITIES)}, not {fail_on!r}")
        options = CheckOptions(timeout, tries, cacert, insecure, tuple(header or ()), tuple(allow_host or ()))
        if cacert is not None and not Path(cacert).is_file():
            raise LogscopeError(f"--cacert {cacert}: no such file")
        result = run_check(urls, options)
        document = check_json(result)
        if json_out:
            write_json(document, json_out)
    except LogscopeError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}".lstrip(": "))
    if len(result.errors) < len(result.targets):
        print_check(document, console)
    for error in result.errors:  # a server's own words may be in it: no terminal controls get through
        print(f"logscope: error: {plain(error)}", file=sys.stderr)
    if result.errors:
        raise typer.Exit(2)
    if fail_on is not None and result.findings_at_or_above(fail_on):
        raise typer.Exit(1)


def _duration(text: str, option: str) -> timedelta:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if m is None:
        raise LogscopeError(f"{option} takes a duration such as 90s, 30m, 24h or 7d, not {text!r}")
    return timedelta(seconds=float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


def _at_least_one(value: int, option: str) -> None:
    if value < 1:
        raise LogscopeError(f"{option} takes a number of entries, 1 or more, not {value}")


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
