"""The terminal summary, rendered from the report. Text from logs is stripped of control characters."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from .json_report import clients_where

#: C0 and C1 controls (escape sequences start with them), and the Unicode bidirectional controls, which reorder what
#: a terminal shows (`abc\u202egnp.exe` reads as `abcexe.png`): none of them reaches the terminal from a log.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


def plain(text: object) -> str:
    """Log-derived text made safe for a terminal: no escape sequences, no control characters."""
    return _CONTROL.sub("\ufffd", str(text))


def clean(text: object) -> str:
    """The same, for strings rich reads as markup: `[bold]` or `[/]` in a User-Agent stays literal text."""
    return escape(plain(text))


def _inputs(report: dict[str, Any], console: Console) -> None:
    table = Table(title="Inputs", title_justify="left", show_edge=False)
    records = any(item.get("non_request") for item in report["inputs"])  # lines that are no request: a column when any
    columns = ["input", "format", "lines", "parsed", "rejected", *(["non-request"] if records else [])]
    for col in columns:
        table.add_column(col, justify="left" if col in ("input", "format") else "right")
    for item in report["inputs"]:
        name = item.get("log_format_name")
        fmt = f"{item['format']} ({name})" if name else item["format"]
        if item.get("container"):
            fmt += f", in {item['container']}"
        counts = [f"{item[k]:,}" for k in ("lines", "parsed", "rejected")] + ([f"{item.get('non_request', 0):,}"] if records else [])
        table.add_row(clean(item["path"]), clean(fmt), *counts)
    console.print(table)


def _overview(report: dict[str, Any], console: Console) -> None:
    totals, window = report["totals"], report["window"]
    console.print(
        f"requests: {totals['requests']:,}   clients: {totals['clients']:,}   MCP clients: {totals['mcp_clients']:,}   "
        f"stuck: [bold]{totals['stuck_clients']:,}[/]"
    )
    if window["start"]:
        console.print(f"window:   {window['start']} -> {window['end']}")
    transport = report.get("server", {}).get("transport")
    edge = report.get("server", {}).get("edge")
    if edge:
        console.print(Text(f"edge:     {edge['name']} ({edge['edge']}) wrote this log"))
    if transport and transport["redirects_http"]:
        codes = ", ".join(transport["status_codes"])
        methods = ", ".join(f"{m} {n:,}" for m, n in transport["methods"].items())
        by_edge = transport.get("sent_by_edge", 0)
        total = sum(transport["methods"].values())
        who = ""
        if edge and edge.get("answered_by_logged"):
            who = f"; {edge['name']} sent them itself" if by_edge >= total else f"; {edge['name']} sent {by_edge:,} of them itself"
        console.print(Text(f"server:   redirects plain HTTP with {codes} ({methods}), {transport['evidence']}{who}"))
    elif transport and transport["redirects_http"] is None:
        console.print("server:   whether plain HTTP is redirected cannot be told from this log")


NARROW = 110  # below this width the lists are drawn two lines an entry instead of as tables


def _stuck(report: dict[str, Any], console: Console, top: int) -> None:
    stuck = clients_where(report, "stuck")
    if not stuck:
        return
    if console.width < NARROW:
        console.print(Text(f"Stuck clients ({len(stuck):,})", style="bold red"))
        for c in stuck[:top]:
            agent = plain(c["user_agent"]) if c["user_agent"] is not None else "(no User-Agent)"
            since = c["stuck_since"][:16].replace("T", " ") + "Z"
            console.print(Text(f" {plain(c['ip'])}  {agent}"), no_wrap=True, overflow="ellipsis")
            modes = ", ".join(c["failure_modes"]) or "no failure mode named"
            _indented(console, Text(f"{c['failed_attempts']:,} failed since {since}: {modes}", style="dim"), 5)
    else:
        table = Table(title=f"Stuck clients ({len(stuck):,})", title_justify="left", show_edge=False, title_style="bold red")
        for col in ("address", "user agent", "failed attempts", "stuck since", "failure modes"):
            table.add_column(col, justify="right" if col == "failed attempts" else "left")
        for c in stuck[:top]:
            agent = Text(plain(c["user_agent"])) if c["user_agent"] is not None else Text("(none)", style="dim")
            since = c["stuck_since"][:16].replace("T", " ") + "Z"
            table.add_row(clean(c["ip"]), agent, f"{c['failed_attempts']:,}", since, ", ".join(c["failure_modes"]) or "-")
        console.print(table)
    if len(stuck) > top:
        console.print(f"  ... and {len(stuck) - top:,} more (see --json, or --top)")


def _indented(console: Console, text: Text, indent: int) -> None:
    """A line that wraps under its own start, not at the margin."""
    console.print(Padding(text, (0, 0, 0, indent)))


OUTCOME_STYLE = {"stuck": "bold red", "failing": "red", "degraded": "yellow", "connected": "green"}


def _outcomes_text(a: dict[str, Any]) -> Text:
    outcome = Text()
    for name, n in a["outcomes"].items():
        if name != "not-mcp":
            outcome.append(f"{name} {n:,} ", style=OUTCOME_STYLE.get(name, ""))
    return outcome


def _inventory(report: dict[str, Any], console: Console, top: int) -> None:
    """The client-architecture inventory: MCP architectures, the failing ones first."""
    rows = [a for a in report["architectures"] if set(a["outcomes"]) - {"not-mcp"}]
    if not rows:
        return
    total = report["totals"]["mcp_architectures"]  # the list is capped (report.LISTED_ARCHITECTURES)
    if console.width < NARROW:
        console.print(Text(f"Client architectures ({total:,})", style="bold"))
        for a in rows[:top]:
            console.print(Text(f" {plain(a['label'])}"), no_wrap=True, overflow="ellipsis")
            counts = Text(f"{a['clients']:,} client(s), {a['ips']:,} IP(s), {a['requests']:,} requests: ", style="dim")
            _indented(console, counts + _outcomes_text(a), 5)
    else:
        table = Table(title=f"Client architectures ({total:,})", title_justify="left", show_edge=False)
        for col in ("architecture", "clients", "IPs", "requests", "outcome"):
            table.add_column(col, justify="left" if col in ("architecture", "outcome") else "right")
        for a in rows[:top]:
            table.add_row(clean(a["label"]), f"{a['clients']:,}", f"{a['ips']:,}", f"{a['requests']:,}", _outcomes_text(a))
        console.print(table)
    if total > top:
        console.print(f"  ... and {total - min(top, len(rows)):,} more architectures (see --json, or --top)")


def _findings(report: dict[str, Any], console: Console, top: int) -> None:
    findings = report["findings"]
    if not findings:
        console.print("findings: none")
        return
    console.print(Text(f"Findings ({len(findings)})", style="bold"))
    for f in findings[:top]:
        line = Text()
        line.append(f" {f['severity'].upper():<8} ", style=SEVERITY_STYLE[f["severity"]])
        line.append(f" {f['title']}")
        if f["clients"]:
            n = len(f["clients"])
            line.append(f"  ({n:,} client{'s' if n != 1 else ''}, {f['count']:,}x)", style="dim")
        console.print(line, no_wrap=console.width < NARROW, overflow="ellipsis")
        if f.get("fix_summary"):
            _indented(console, Text(f"fix: {f['fix_summary']}", style="green"), 11)
        elif f["code"] == "log-field-missing":
            _indented(console, Text("add them to the log format (see the finding's fix in --json)", style="dim"), 11)


def _rejections(report: dict[str, Any], console: Console) -> None:
    for item in report["inputs"]:
        for note in item["notes"]:
            console.print(f"[yellow]note[/]: {clean(item['path'])}: {clean(note)}")
        if item.get("non_request"):
            kinds = ", ".join(f"{clean(k)} ({n:,})" for k, n in item.get("non_request_kinds", {}).items())
            console.print(f"[dim]not requests[/] in {clean(item['path'])}: {kinds}")
        if item["rejected"]:
            reasons = ", ".join(f"{clean(r)} ({n:,})" for r, n in item["rejected_reasons"].items())
            console.print(f"[yellow]rejected[/] in {clean(item['path'])}: {reasons}")
            for sample in item["rejected_samples"][:3]:
                console.print(f"  line {sample['line']}: {plain(sample['text'][:160])}", markup=False, highlight=False)


@contextmanager
def ingest_progress(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A transient spinner on standard error counting lines read, for long ingests on a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("reading", total=None)

        def hook(name: str, lines: int) -> None:
            bar.update(task, description=f"reading {clean(name)}: {lines:,} lines")

        yield hook


def print_summary(report: dict[str, Any], console: Console, top: int = 20) -> None:
    """The summary an operator reads; on a terminal narrower than 110 columns, lists two lines an entry."""
    _inputs(report, console)
    _overview(report, console)
    _stuck(report, console, top)
    _inventory(report, console, top)
    _findings(report, console, top)
    _rejections(report, console)


def print_comparison(comparison: dict[str, Any], console: Console, top: int = 20) -> None:
    """What changed between two analyses, in the operator's words."""
    for name in ("before", "after"):
        side = comparison[name]
        totals = side["totals"]
        window = f"{side['window']['start']} -> {side['window']['end']}"
        console.print(f"{name + ':':8}{window}   {totals['requests']:,} requests, {totals['stuck_clients']} stuck")
    words = {"recovered": "now connect", "regressed": "got worse", "improved": "improved", "new": "are new", "gone": "are gone"}
    for change, what in words.items():
        rows = [c for c in comparison["clients"] if c["change"] == change]
        if not rows:
            continue
        console.print(f"[bold]Clients that {what} ({len(rows)})[/bold]")
        for c in rows[:top]:
            # Log text goes through `clean` (controls gone, markup escaped): this line is printed as markup.
            ua = clean(c["user_agent"]) if c["user_agent"] else "(no User-Agent)"
            console.print(f"  {clean(c['ip'] or '')}  {ua}  {clean(c['before'] or '-')} -> {clean(c['after'] or '-')}")
        if len(rows) > top:
            console.print(f"  ... and {len(rows) - top} more")
    f = comparison["findings"]
    for status in ("resolved", "new", "persisting"):
        if f[status]:
            console.print(f"[bold]Findings {status}[/bold]: {clean(', '.join(f[status]))}")


def _check_facts(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts of one checked URL as (topic, sentence) lines."""
    lines = []
    if "plain_http" in facts:
        p = facts["plain_http"]
        said = p.get("answer") or (f"answered {p['status']} to {p['location']}" if p.get("location") else f"answered {p.get('status')}")
        lines.append(("plain HTTP", f"POST {p['url']}: {said}" + (f"; {p['not_followed']}" if p.get("not_followed") else "")))
    if "stateless" in facts:
        s = facts["stateless"]
        if s.get("speaks"):
            ok = sum(200 <= (x or 0) < 300 for x in s.get("tools_list", []))
            lines.append(
                ("stateless", f"speaks MCP 2026-07-28 (server/discover {s['status']}); tools/list {ok}/{len(s.get('tools_list', []))}")
            )
        else:
            lines.append(("stateless", f"server/discover answered {s['status']}: MCP 2026-07-28 not spoken (clients fall back)"))
    if "session" in facts:
        s = facts["session"]
        answers = s.get("answers", [])
        kept = sum(200 <= (x or 0) < 300 for x in answers)
        session_id = "a session id" if s.get("session_id") else "no session id"
        lines.append(
            ("session", f"initialize: revision {s.get('revision')}, {session_id}; {kept}/{len(answers)} requests after it answered 2xx")
        )
        lines.append(("stream", f"GET stream {s.get('stream')}; DELETE {s.get('teardown', 'not sent (no session)')}"))
        lines.append(("accept", f"Accept: application/json only: {s.get('accept_json_only')}"))
    if "tls" in facts:
        t = facts["tls"]
        cert = (
            f"certificate verified, {t['days_left']} days left, for {', '.join(t.get('names', [])) or '?'}"
            if t.get("verified")
            else "certificate not verified (--insecure)"
        )
        lines.append(("TLS", f"{t.get('version')}; {cert}"))
    if "hsts" in facts:
        lines.append(("HSTS", facts["hsts"].get("header") or "none"))
    if "authorization" in facts:
        a = facts["authorization"]
        said = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in a.items() if v)
        lines.append(("authorization", said))
    return lines


def print_check(result: dict[str, Any], console: Console) -> None:
    """`logscope check`: per URL what was seen, then its findings with their fix and evidence. Everything the
    server sent back is printed as plain text, never as markup."""
    for target in result["targets"]:
        console.print(Text(f"check {plain(target['url'])}", style="bold"))
        if target["error"]:
            console.print(Text(f"  cannot check: {plain(target['error'])}", style="bold red"))
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="dim", no_wrap=True)
        facts.add_column()
        for topic, sentence in _check_facts(target["facts"]):
            facts.add_row(topic, Text(plain(sentence)))
        console.print(Padding(facts, (0, 0, 0, 2)))
        if not target["findings"]:
            if not target["error"]:
                console.print(Text("  no problem found", style="green"))
            continue
        for f in target["findings"]:
            line = Text("  ")
            line.append(f" {f['severity'].upper():<8} ", style=SEVERITY_STYLE[f["severity"]])
            line.append(f" {f['title']}  ({f['code']})")
            console.print(line)
            _indented(console, Text(plain(f["detail"])), 13)
            if f["fix"]:
                system, snippet = next(iter(f["fix"].items()))
                _indented(console, Text(f"fix ({system}): ", style="green") + Text(plain(snippet)), 13)
            for e in f["evidence"]:
                _indented(console, Text(f"{e['ref']}: ", style="dim") + Text(plain(e["text"])), 13)
    totals = result["totals"]
    if totals["errors"] or totals["findings"]:
        counts = ", ".join(f"{n} {s}" for s, n in totals["by_severity"].items() if n)
        console.print(
            Text(f"{totals['findings']} finding(s){': ' + counts if counts else ''}; {totals['errors']} URL(s) could not be checked")
        )
