"""Hostile and broken input: generated cases over every parser (hypothesis).

Each case is a real file on disk (sometimes gzipped) built from lines of one format with fields broken the
ways the internet breaks them, plus random bytes, invalid UTF-8, NULs, CRLF, megabyte lines, a cut last
line and lines of other formats. Whatever the case:
- no exception escapes except logscope's own one-line InputError (only when nothing in the file is a log);
- every line is accounted for: parsed + rejected + non_request == lines == the file's physical line count;
- the canonical frame has the canonical types, and the JSON report is valid against its schema.

LOGSCOPE_FUZZ_EXAMPLES sets the number of cases per parser (CI runs the default; docs/hostile-input.md quotes a
longer run).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logscope.analysis import analyze, diagnose
from logscope.errors import FormatError, InputError
from logscope.formats import FormatChoice
from logscope.ingest import MAX_REJECTED_SAMPLES, read_logs
from logscope.report.json_report import build_report
from logscope.schema import CANONICAL

from .conftest import SAMPLES, physical_lines, run_cli, same_report, validate_report

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

EXAMPLES = int(os.environ.get("LOGSCOPE_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# --- field values, valid and broken ------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "\x1b[2J\x1b[31mred",
            "[bold]markup[/]",
            "[/]",
            "{{7*7}}",
            "${jndi:ldap://x/a}",
            "\\x22quoted\\x22",
            "a\tb",
            "\u202eevil",
            "\x00nul",
            "\ud7ff",
            "é" * 50,
        ]
    ),
)


def mostly(valid: st.SearchStrategy, broken: st.SearchStrategy) -> st.SearchStrategy:
    """About nine draws in ten valid, so files hold parsed lines as well as rejected ones. (Not i == 0:
    hypothesis favours small and boundary values, which would make the broken branch the usual one.)"""
    return st.integers(0, 9).flatmap(lambda i: broken if i == 7 else valid)


ips = mostly(
    st.ip_addresses().map(str),
    st.sampled_from(["-", "", "unknown", "999.1.1.1", "[::1]", "1.2.3.4, 5.6.7.8", "::ffff:10.0.0.1"]),
)
statuses = mostly(st.integers(100, 599).map(str), st.sampled_from(["abc", "-1", "99999", "", "-", "2OO", "0", "1e3"]))
sizes = mostly(st.integers(0, 10**9).map(str), st.sampled_from(["-5", "abc", "1e99", "", "-", str(2**70)]))
methods = mostly(st.sampled_from(["GET", "POST", "DELETE", "OPTIONS"]), st.one_of(st.sampled_from(["PRI", "get", ""]), st.text(max_size=8)))
paths = st.one_of(
    st.sampled_from(["/mcp", "/mcp/", "/sse", "/messages?session_id=1", "/.well-known/oauth-authorization-server", "/token"]),
    st.text(max_size=30).map(lambda t: "/" + t),
    st.just("/mcp?access_token=SECRET123&x=1"),
)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
days = st.integers(-1, 40)
months = st.sampled_from(["Jan", "Feb", "May", "Dec", "Foo", "may"])
years = st.sampled_from([1970, 1989, 2026, 2099, 2101, 9999, 0])
offsets = st.sampled_from(["+0000", "+1400", "-1200", "+0530", "+9999", "Z", "", "+00:00"])
clock = st.tuples(st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}:{t[2]:02d}")


@st.composite
def broken_time_local(draw: st.DrawFn) -> str:
    return f"{draw(days):02d}/{draw(months)}/{draw(years):04d}:{draw(clock)} {draw(offsets)}".rstrip()


def time_local() -> st.SearchStrategy[str]:
    return mostly(moments.map(lambda d: d.strftime("%d/%b/%Y:%H:%M:%S +0000")), broken_time_local())


def iso_time() -> st.SearchStrategy[object]:
    return mostly(
        st.one_of(moments.map(lambda d: d.timestamp()), moments.map(lambda d: d.isoformat())),
        st.one_of(
            st.datetimes().map(lambda d: d.isoformat()),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(2**63), 2**63 - 1),
            st.sampled_from(["2026-02-30T10:00:00Z", "2026-05-20T25:00:00+02:00", "yesterday", "", "1779000000123"]),
        ),
    )


# --- lines of each format ----------------------------------------------------------------------------


@st.composite
def combined_line(draw: st.DrawFn) -> str:
    request = f"{draw(methods)} {draw(paths)} HTTP/1.1"
    quoted = draw(st.sampled_from(['"', '\\"']))  # Apache escapes quotes inside fields as \"
    ua = draw(hostile_text).replace('"', quoted)
    return f'{draw(ips)} - - [{draw(time_local())}] "{request}" {draw(statuses)} {draw(sizes)} "-" "{ua}"'


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), hostile_text),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=8,
)


def _maybe(draw: st.DrawFn, value: object) -> object:
    """The field as it should be (mostly), of the wrong type, or missing (None means: leave the key out)."""
    return draw(mostly(st.just(value), st.one_of(json_values, st.just(None))))


def _dump(record: dict[str, object]) -> str:
    return json.dumps({k: v for k, v in record.items() if v is not None}, ensure_ascii=False)


@st.composite
def caddy_line(draw: st.DrawFn) -> str:
    request = {
        "remote_ip": _maybe(draw, draw(ips)),
        "client_ip": _maybe(draw, draw(ips)),
        "proto": "HTTP/2.0",
        "method": _maybe(draw, draw(methods)),
        "host": "mcp.example.net",
        "uri": _maybe(draw, draw(paths)),
        "headers": _maybe(draw, {"User-Agent": [draw(hostile_text)], "Authorization": ["REDACTED"]}),
        "tls": _maybe(draw, {"version": 772, "proto": "h2"}),
    }
    return _dump(
        {
            "level": "info",
            "ts": _maybe(draw, draw(iso_time())),
            "logger": "http.log.access",
            "msg": "handled request",
            "request": _maybe(draw, {k: v for k, v in request.items() if v is not None}),
            "duration": _maybe(draw, draw(mostly(st.floats(0, 600), st.floats()))),
            "size": _maybe(draw, draw(mostly(st.integers(0, 2**40), st.integers(-(2**40), 2**40)))),
            "status": _maybe(draw, draw(mostly(st.integers(100, 599), st.integers(-5, 1000)))),
            "resp_headers": _maybe(draw, {"Location": ["https://mcp.example.net/mcp"]}),
        }
    )


@st.composite
def traefik_line(draw: st.DrawFn) -> str:
    return _dump(
        {
            "ClientHost": _maybe(draw, draw(ips)),
            "RequestMethod": _maybe(draw, draw(methods)),
            "RequestPath": _maybe(draw, draw(paths)),
            "RequestProtocol": "HTTP/1.1",
            "RequestScheme": _maybe(draw, draw(st.sampled_from(["http", "https", "ftp"]))),
            "DownstreamStatus": _maybe(draw, draw(mostly(st.integers(100, 599), st.integers(-5, 1000)))),
            "DownstreamContentSize": _maybe(draw, draw(st.integers(-10, 2**40))),
            "Duration": _maybe(draw, draw(mostly(st.integers(0, 600 * 10**9), st.integers(-(2**63), 2**63 - 1)))),
            "StartUTC": _maybe(draw, draw(iso_time())),
            "request_User-Agent": _maybe(draw, draw(hostile_text)),
        }
    )


@st.composite
def generic_json_line(draw: st.DrawFn) -> str:
    return _dump(
        {
            "time": _maybe(draw, draw(iso_time())),
            "remote_addr": _maybe(draw, draw(ips)),
            "request": _maybe(draw, f"{draw(methods)} {draw(paths)} HTTP/1.1"),
            "status": _maybe(draw, draw(statuses)),
            "body_bytes_sent": _maybe(draw, draw(sizes)),
            "http_user_agent": _maybe(draw, draw(hostile_text)),
        }
    )


@st.composite
def shipped_line(draw: st.DrawFn) -> str:
    """A combined line behind a log shipper's prefix (syslog, docker compose), or a broken prefix."""
    prefix = draw(
        st.sampled_from(
            [
                "<190>May 20 20:20:00 web1 nginx: ",
                "2026-05-20T20:20:00+00:00 web1 nginx[123]: ",
                "proxy-1  | ",
                "nginx_1 | ",
                "",
                "garbage: ",
            ]
        )
    )
    return prefix + draw(combined_line())


@st.composite
def caddy_console_line(draw: st.DrawFn) -> str:
    """Caddy's console encoder: time, level (coloured or not), logger, message, then the JSON fields."""
    stamp = draw(mostly(st.just("2026/05/20 20:20:00.123"), st.sampled_from(["2026-05-20T20:20:00.123Z", "bad time", ""])))
    colour = draw(st.sampled_from(["INFO", "\x1b[34mINFO\x1b[0m"]))
    return f"{stamp}\t{colour}\thttp.log.access.log0\thandled request\t{draw(caddy_line())}"


def deep_json(depth: int) -> str:
    return '{"status": 200, "request": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


@st.composite
def junk_line(draw: st.DrawFn) -> bytes:
    return draw(
        st.one_of(
            st.binary(max_size=200),
            st.just(b"\xff\xfe\x00garbage\xc3\x28"),
            st.just(b"\x00" * 64),
            st.just(b""),
            st.just(b"   \t "),
            st.just(deep_json(draw(st.sampled_from([50, 600]))).encode()),
            st.just(b"{not json"),
            st.just(b"[1, 2, 3]"),
            st.just(b'"just a string"'),
        )
    )


@st.composite
def log_file(draw: st.DrawFn, good: st.SearchStrategy[str]) -> bytes:
    """Mostly lines of one format, with junk, other formats, odd endings and a possibly cut last line."""
    others = st.one_of(combined_line(), caddy_line(), traefik_line())
    items = draw(
        st.lists(
            st.one_of(good.map(str.encode), good.map(str.encode), junk_line(), others.map(str.encode)),
            min_size=1,
            max_size=25,
        )
    )
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
        items.insert(draw(st.integers(0, len(items))), b"x" * (3 * 2**20))  # a line of several megabytes
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = newline.join(items)
    if draw(st.booleans()):
        data += newline
    elif len(data) > 10:
        data = data[: draw(st.integers(len(data) // 2, len(data)))]  # a truncated last line
    return data


# --- the invariants ----------------------------------------------------------------------------------


def check_file(data: bytes, choice: FormatChoice, compress: bool, shards: bool = False) -> int:
    """Run one file through the whole pipeline, check the invariants, return how many lines parsed.
    With `shards`, also read it in shards of clients, which must give the same report."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("access.log.gz" if compress else "access.log")
        path.write_bytes(gzip.compress(data) if compress else data)
        try:
            ingest = read_logs(path, choice)
        except InputError as exc:
            # Allowed only as a clear one-liner naming the file, when it holds no log line it could read.
            assert "\n" not in str(exc) and str(path) in str(exc)
            return 0
        except FormatError as exc:
            # --format json on objects with neither a status nor a request: a one-line request for --field.
            assert "\n" not in str(exc) and "--field" in str(exc)
            return 0
        report = ingest.inputs[0]
        assert report.parsed + report.rejected + report.non_request == report.lines == physical_lines(path)
        assert report.parsed == ingest.requests.height
        assert len(report.rejected_samples) <= MAX_REJECTED_SAMPLES
        for name, dtype in CANONICAL.items():
            assert ingest.requests.schema[name] == dtype, name
        document = build_report(diagnose(ingest))
        validate_report(document)
        assert "SECRET123" not in json.dumps(document)
        if shards and report.parsed:
            # Read in shards of clients (as logs over 2 GiB are), the same file gives the same report.
            assert same_report(document, build_report(analyze(path, choice, shards=3)))
        return report.parsed


PARSERS = {
    "nginx": (combined_line(), FormatChoice()),
    "apache": (combined_line(), FormatChoice(family="apache")),
    "caddy": (caddy_line(), FormatChoice(family="caddy")),
    "traefik": (traefik_line(), FormatChoice(family="traefik")),
    "json": (generic_json_line(), FormatChoice(family="json")),
    "auto": (st.one_of(combined_line(), caddy_line(), traefik_line(), generic_json_line()), FormatChoice()),
    "shipped": (shipped_line(), FormatChoice()),
    "caddy-console": (caddy_console_line(), FormatChoice(family="caddy")),
}


@pytest.mark.parametrize("parser", list(PARSERS))
def test_generated_hostile_logs_never_break_the_invariants(parser: str) -> None:
    good, choice = PARSERS[parser]
    cases: list[tuple[int, int]] = []  # (bytes, lines parsed) per generated file

    @FUZZ
    @given(data=log_file(good), compress=st.booleans())
    def run(data: bytes, compress: bool) -> None:
        cases.append((len(data), check_file(data, choice, compress)))

    run()
    with_requests = sum(1 for _, parsed in cases if parsed)
    # The cases must reach the analysis, not only the rejection paths.
    assert with_requests >= len(cases) // 10, f"only {with_requests} of {len(cases)} files had a parsed line"
    size, parsed = sum(c[0] for c in cases), sum(c[1] for c in cases)
    print(f"\n{parser}: {len(cases)} files, {size:,} bytes, {with_requests} with parsed lines ({parsed:,} lines)")  # pytest -s


@pytest.mark.parametrize("parser", list(PARSERS))
def test_generated_hostile_logs_read_in_shards_give_the_same_report(parser: str) -> None:
    """Found a tie broken by group-by order (proxy-in-front) when it first ran: worth keeping."""
    good, choice = PARSERS[parser]

    @settings(FUZZ, max_examples=max(EXAMPLES // 4, 5))
    @given(data=log_file(good), compress=st.booleans())
    def run(data: bytes, compress: bool) -> None:
        check_file(data, choice, compress, shards=True)

    run()


def test_known_nasty_cases() -> None:
    """Cases worth keeping whatever hypothesis draws: each one a real file through the whole pipeline."""
    cases = [
        b'1.2.3.4 - - [20/May/2026:20:20:00 +0000] "POST /mcp HTTP/1.1" abc -5 "-" "x"\n',
        b'1.2.3.4 - - [31/Feb/2026:25:61:61 +0000] "POST /mcp HTTP/1.1" 200 5 "-" "x"\n',
        b'1.2.3.4 - - [20/May/2026:20:20:00 +0000] "POST /mcp HTTP/1.1" 200 5 "-" "x"\r\n' * 3,
        b'1.2.3.4 - - [20/May/2026:20:20:00 +0000] "POST /mcp HTTP/1.1" 200 5 "-" "x"\n\x00\x00\x00\n\xff\xfe\n',
        b'1.2.3.4 - - [20/May/2026:20:20:00 +0000] "POST /mcp HTTP/1.1" 200 5 "-" "x"\n1.2.3.4 - - [20/May/2026:20:2',
        deep_json(600).encode() + b"\n" + b'{"ts": 1779000000, "status": 200, "request": {"method": "GET", "uri": "/"}}\n',
        b'{"status": "200", "request": [], "ts": "soon"}\n{"status": {"a": 1}}\n',
    ]
    for case in cases:
        for choice in (FormatChoice(), FormatChoice(family="caddy"), FormatChoice(family="json")):
            check_file(case, choice, compress=False)
    # Found by the generated cases: a gzipped log whose text starts with gzip's magic bytes made Polars'
    # line splitter try to decompress the text again.
    assert check_file(b"\x1f\x8b\n" + cases[0], FormatChoice(), compress=True) == 0
    assert check_file(b"\x1f\x8b\n" + cases[2], FormatChoice(), compress=True) == 3


def test_impossible_durations_are_rejected_with_a_reason(tmp_path: Path) -> None:
    """Found by the generated cases: a Caddy duration of -1.2e133 s used to crash the attempt timing."""
    line = '{{"ts": 1779000000, "msg": "handled request", "request": {{"method": "GET", "uri": "/mcp"}}, "status": 200, "duration": {d}}}'
    path = tmp_path / "caddy.json"
    path.write_text("\n".join(line.format(d=d) for d in ("-1.2e133", "1e300", "-0.5", "0.25", "86400")) + "\n")
    report = read_logs(path).inputs[0]
    assert (report.parsed, report.rejected) == (2, 3)
    assert report.rejected_reasons == {"duration is negative or impossible": 3}


# --- what a log can do to the outputs ----------------------------------------------------------------

NASTY_AGENTS = [
    "\x1b[2J\x1b[31mCLEARED",  # clear the screen, then red
    "\x9b31mCSI8BIT",  # the 8-bit CSI
    "[bold red]MARKUP[/bold red]",  # rich markup
    "[/]",  # a closing tag with nothing to close: rich raises on it
    "[link=https://evil.example]CLICK[/link]",
    "bell\x07 and\rreturn",
]


def _stuck_lines(ip: str, agent: str, attempts: int = 12) -> list[str]:
    out = []
    for k in range(attempts):
        t = f"20/May/2026:{10 + k // 60:02d}:{k % 60:02d}:00 +0000"
        out.append(f'{ip} - - [{t}] "POST /mcp HTTP/1.1" 301 0 "-" "{agent}"\n')
        out.append(f'{ip} - - [{t}] "GET /mcp HTTP/1.1" 400 0 "-" "{agent}"\n')
    return out


def test_terminal_shows_log_text_literally(tmp_path: Path) -> None:
    """A User-Agent can neither move the cursor, recolour or clear the terminal, nor inject rich markup."""
    import pty
    import subprocess
    import sys

    log = tmp_path / "access.log"
    log.write_text("".join(line for i, ua in enumerate(NASTY_AGENTS) for line in _stuck_lines(f"203.0.113.{i + 1}", ua)))
    env = {**os.environ, "COLUMNS": "250"}
    piped = subprocess.run([sys.executable, "-m", "logscope", "analyze", str(log), "--no-html"], capture_output=True, text=True, env=env)
    assert piped.returncode == 0, piped.stderr
    out = piped.stdout + piped.stderr
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out and "\r" not in out
    for literal in ("CLEARED", "CSI8BIT", "[bold red]MARKUP[/bold red]", "[/]", "[link=https://evil.example]CLICK[/link]"):
        assert literal in out, literal
    # On a terminal logscope colours its own output; what came from the log still carries no escape.
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "logscope", "analyze", str(log), "--no-html"],
        stdout=follower,
        stderr=follower,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    assert proc.wait(timeout=120) == 0
    text = shown.decode("utf-8", "replace")
    assert "\x1b[" in text  # logscope's own colours
    assert "\x1b[2J" not in text and "\x1b[31mCLEARED" not in text and "\x07" not in text
    assert "CLEARED" in text and "[/]" in text


def test_one_abusive_client_costs_its_aggregates_not_its_requests(tmp_path: Path) -> None:
    """200,000 requests on 100,000 distinct endpoint paths from one client: its lists in the report stay capped."""
    from logscope.detectors import MAX_EVIDENCE
    from logscope.flows import MAX_PATHS
    from logscope.report.html_report import MAX_ATTEMPTS_SHOWN, render_html

    log = tmp_path / "access.log"
    lines = []
    start = datetime(2026, 5, 1, tzinfo=UTC)
    for n in range(100_000):
        t = (start + timedelta(minutes=n)).strftime("%d/%b/%Y:%H:%M:%S +0000")  # an attempt a minute
        lines.append(f'198.51.100.7 - - [{t}] "POST /mcp/{n} HTTP/1.1" 301 0 "-" "abuser/1.0"\n')
        lines.append(f'198.51.100.7 - - [{t}] "GET /mcp/{n} HTTP/1.1" 400 0 "-" "abuser/1.0"\n')
    log.write_text("".join(lines))
    analysis = diagnose(read_logs(log))
    report = build_report(analysis)
    validate_report(report)
    (client,) = report["clients"]
    assert client["requests"] == 200_000 and client["outcome"] == "stuck"
    assert len(client["paths"]) == MAX_PATHS
    assert all(len(f["evidence"]) <= MAX_EVIDENCE for f in report["findings"])
    assert len(json.dumps(report)) < 100_000  # the whole report, for 200,000 requests
    html = render_html(analysis, report)
    assert html.count("/mcp/99999") == 0  # a request late in the flood is in no list
    drill = analysis.flows.attempts.filter(pl.col("counted")).height
    assert drill > MAX_ATTEMPTS_SHOWN  # so the drill-down's cap was needed


def test_one_user_agent_per_client_lists_a_capped_inventory(tmp_path: Path) -> None:
    """Issue 24, item 11: 1,500 MCP clients, each its own product (`tool<n>/1.<n>`), make 1,500 architectures:
    the report counts them all and lists the first LISTED_ARCHITECTURES, the terminal says how many more."""
    from logscope.report.json_report import LISTED_ARCHITECTURES

    log = tmp_path / "access.log"
    start = datetime(2026, 5, 1, tzinfo=UTC)
    lines = []
    for n in range(1_500):
        t = (start + timedelta(seconds=n)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(f'10.1.{n >> 8}.{n & 255} - - [{t}] "POST /mcp HTTP/1.1" 200 90 "-" "tool{n}/1.{n}"\n')
    log.write_text("".join(lines))
    report = build_report(diagnose(read_logs(log)))
    validate_report(report)
    assert report["totals"]["architectures"] == report["totals"]["mcp_architectures"] == 1_500
    assert len(report["architectures"]) == LISTED_ARCHITECTURES < 1_500
    assert {c["agent"] for c in report["clients"]} == {f"tool{n}" for n in range(1_500)}
    result = run_cli("analyze", str(log), "--top", "5")
    assert result.returncode == 0, result.stderr
    assert "Client architectures (1,500)" in result.stdout and "and 1,495 more architectures" in result.stdout


@pytest.mark.parametrize("command", ["analyze", "compare", "convert"])
def test_json_nested_ten_thousand_deep_is_one_rejected_line(tmp_path: Path, command: str) -> None:
    """Issue 24, item 10: a line of JSON nested 10,000 deep (Python's own decoder gives up at about 1,000) among
    Caddy's lines, even as the first line the format is detected from: that line is rejected, the rest analysed."""
    caddy = (SAMPLES / "mcp-seed.caddy.json").read_text().splitlines(keepends=True)[:20]
    deep = '{"a":' * 10_000 + "1" + "}" * 10_000 + "\n"
    log = tmp_path / "caddy.json"
    log.write_text(deep + "".join(caddy[:10]) + deep + "".join(caddy[10:]))
    report = read_logs([log]).inputs[0]
    assert (report.format, report.parsed, report.rejected) == ("caddy", 20, 2)
    assert report.rejected_reasons == {"not an access record (a JSON object with no request fields)": 2}
    args = {
        "analyze": [str(log), "--no-html", "-q"],
        "compare": [str(log), str(log)],
        "convert": [str(log), "--out", str(tmp_path / "store")],
    }
    done = run_cli(command, *args[command])
    assert done.returncode == 0 and "Traceback" not in done.stderr and "RecursionError" not in done.stderr, done.stderr
