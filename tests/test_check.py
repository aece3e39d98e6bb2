"""`logscope check` against real local servers: the official Python SDK's MCP server (lab/backends), and small
servers that answer what an MCP endpoint should not (an HTML page, a hang, a redirect to another host, words
meant for the terminal). The lab's proxies (nginx, Caddy, Apache, HAProxy) are checked in test_lab_live.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import jsonschema
import pytest

from logscope.check import CheckOptions, check, check_json, check_schema

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.78.0.1"  # loopback addresses of this test's own (the lab uses 127.1-4.x.1 and 127.100-119.x.y)


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(host: str, port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logscope", "check", *args], capture_output=True, text=True, timeout=120)


def lab_backend(kind: str, path: str) -> Iterator[str]:
    """One of the lab's Python SDK servers, over plain HTTP on this test's loopback address; stopped by its id."""
    port = free_port()
    argv = [sys.executable, "-m", "lab.backends.python_mcp", "--kind", kind, "--port", str(port), "--host", HOST]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(HOST, port)
        yield f"http://{HOST}:{port}{path}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[str]:
    """The official Python SDK's Streamable HTTP server."""
    yield from lab_backend("streamable", "/mcp")


@pytest.fixture(scope="module")
def legacy_server() -> Iterator[str]:
    """The same SDK's legacy HTTP+SSE server."""
    yield from lab_backend("sse", "/sse")


ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/html": (200, {"Content-Type": "text/html"}, b"<html><body>Welcome</body></html>"),
    "/missing": (404, {"Content-Type": "text/plain"}, b"not found"),
    "/elsewhere": (301, {"Location": "https://mcp.elsewhere.example/mcp"}, b""),
    # Headers, then no body: what the lab's Python SDK server once sent under load.
    "/empty": (200, {"Content-Type": "text/event-stream"}, b""),
    "/hostile": (
        400,
        {"Content-Type": "application/json", "Server": "evil\x1b[2J"},
        json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "\x1b]0;pwned\x07\x1b[31mred"}}).encode(),
    ),
}


class Answers(BaseHTTPRequestHandler):
    asked: ClassVar[dict[str, int]] = {}  # requests per HTTP method, path and JSON-RPC method

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            method = json.loads(body).get("method") if body else None
        except ValueError:
            method = None
        key = f"{self.command} {self.path} {method}"
        Answers.asked[key] = Answers.asked.get(key, 0) + 1
        status, headers, body = ANSWERS.get(self.path, (404, {}, b""))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def odd_server() -> Iterator[str]:
    server = ThreadingHTTPServer((HOST, 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


def test_a_real_mcp_server_over_plain_http(mcp_server: str, tmp_path: Path) -> None:
    """The SDK's server answers everything; served over plain HTTP, that is the finding. Both revisions are tried:
    this server speaks the stateless one (server/discover) and keeps sessions for initialize."""
    result = check([mcp_server], CheckOptions(timeout=10, tries=3))
    document = check_json(result)
    jsonschema.validate(document, check_schema(), format_checker=jsonschema.FormatChecker())
    target = document["targets"][0]
    assert target["error"] is None
    assert [f["code"] for f in target["findings"]] == ["http-served"]
    facts = target["facts"]
    assert facts["stateless"]["speaks"] is True and facts["stateless"]["tools_list"] == [200, 200, 200]
    assert facts["session"]["revision"] == "2025-11-25" and facts["session"]["session_id"] is True
    assert facts["session"]["answers"] == [202, 200, 200, 200]  # the notification, then tools/list with the session
    assert facts["session"]["stream"].startswith("offered") and facts["session"]["teardown"] == "answered 200"
    assert facts["session"]["accept_json_only"].startswith("refused with 406")
    # Every request is bounded and recorded as evidence.
    assert len(target["exchanges"]) == 1 + 1 + 3 + 1 + 1 + 3 + 1 + 1 + 1
    assert target["findings"][0]["evidence"][0]["ref"] == "request 1"
    # The CLI: the same, and the exit code a deploy pipeline reads.
    out = tmp_path / "check.json"
    run = cli(mcp_server, "--tries", "2", "--json", str(out), "--fail-on", "high")
    assert run.returncode == 1, run.stderr
    assert "MCP served over plain HTTP" in run.stdout and "return 308 https://$host$request_uri;" in run.stdout
    assert json.loads(out.read_text())["totals"]["by_severity"]["high"] == 1
    assert cli(mcp_server, "--tries", "1", "--fail-on", "critical").returncode == 0


def test_credentials_go_only_where_given_and_are_never_shown(mcp_server: str, tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    run = cli(mcp_server, "--tries", "1", "-H", "Authorization: Bearer s3cret-token", "--json", str(out))
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "s3cret" not in run.stdout + run.stderr + text
    codes = [f["code"] for f in json.loads(text)["targets"][0]["findings"]]
    assert codes == ["cleartext-credentials", "http-served"]
    assert '"Authorization": "(given, not shown)"' in text


def test_a_legacy_sse_endpoint_is_named(legacy_server: str) -> None:
    target = check_json(check([legacy_server], CheckOptions(timeout=10, tries=1)))["targets"][0]
    assert target["error"] is None
    assert {f["code"] for f in target["findings"]} == {"legacy-transport-fallback", "http-served"}
    assert "legacy_sse" in target["facts"]


def test_a_redirect_to_another_host_is_reported_not_followed(odd_server: str) -> None:
    target = check_json(check([odd_server + "/elsewhere"], CheckOptions(timeout=5)))["targets"][0]
    assert [f["code"] for f in target["findings"]] == ["redirect-method-downgrade"]
    assert "not sent (another host)" in target["findings"][0]["detail"]
    assert "--allow-host mcp.elsewhere.example" in target["facts"]["plain_http"]["not_followed"]
    assert {e["url"].split("/")[2] for e in target["exchanges"]} == {odd_server.split("/")[2]}


@pytest.mark.parametrize(
    ("url", "options", "said"),
    [
        ("{odd}/html", [], "answered initialize with 200 (text/html)"),
        ("{odd}/missing", [], "answered initialize with 404"),
        ("{odd}/empty", [], "answered initialize with 200 and an empty body (text/event-stream), twice"),
        (f"http://{HOST}:{{free}}/mcp", [], "connection refused by"),
        (f"http://{HOST}:{{silent}}/mcp", ["--timeout", "1"], "no answer from"),
        ("https://{odd_host}/mcp", [], "TLS failure with"),
        ("http://no-such-host.invalid/mcp", ["--timeout", "5"], "cannot resolve no-such-host.invalid"),
        ("ftp://example.net/mcp", [], "check takes http:// or https:// URLs"),
        ("http://{odd_host}/mcp", ["--tries", "0"], "--tries takes 1 to 50"),
        ("http://{odd_host}/mcp", ["--timeout", "nan"], "--timeout takes seconds above 0"),
        ("http://{odd_host}/mcp", ["-H", "no colon"], "--header takes 'Name: value'"),
        ("http://{odd_host}/mcp", ["--cacert", "/no/such/ca.pem"], "--cacert /no/such/ca.pem: no such file"),
        ("http://{odd_host}/mcp", ["--fail-on", "bad"], "--fail-on takes one of"),
    ],
)
def test_every_error_is_one_line_and_a_non_zero_exit(odd_server: str, silent_port: int, url: str, options: list[str], said: str) -> None:
    odd_host = odd_server.split("/")[2]
    run = cli(url.format(odd=odd_server, odd_host=odd_host, free=free_port(), silent=silent_port), *options)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("logscope: error: ") and said in lines[0], run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_an_empty_answer_to_initialize_is_asked_once_more(odd_server: str) -> None:
    """A 2xx with no body is no answer yet (a server under load can drop it): initialize is sent a second time,
    and only then is the URL said to give no MCP answer."""
    before = Answers.asked.get("POST /empty initialize", 0)
    run = cli(odd_server + "/empty")
    assert run.returncode == 2 and "twice: no MCP answer" in run.stderr
    # One from the plain-HTTP step (the URL is http://), two from the handshake.
    assert Answers.asked["POST /empty initialize"] - before == 3


def test_what_a_server_says_cannot_drive_the_terminal(odd_server: str) -> None:
    """A JSON-RPC error to initialize is initialize-refused, quoting the server: its words, without their controls."""
    run = cli(odd_server + "/hostile")
    assert run.returncode == 0 and "initialize-refused" in run.stdout
    assert "\x1b" not in run.stderr + run.stdout and "\x07" not in run.stderr + run.stdout
    assert "red" in run.stdout


def test_analyze_and_watch_set_the_checks_own_requests_aside(tmp_path: Path) -> None:
    """What check sends on purpose (a GET after a 301, a narrow Accept) must not become a client's failure."""
    from logscope.analysis import analyze

    ua = "logscope-check/0.1.0"
    lines = [
        f'203.0.113.9 - - [05/Dec/2026:10:00:0{i} +0000] "{m} /mcp HTTP/1.1" {s} 10 "-" "{ua}"'
        for i, (m, s) in enumerate([("POST", 301), ("GET", 400), ("POST", 200), ("POST", 406)])
    ] + ['198.51.100.7 - - [05/Dec/2026:10:00:09 +0000] "POST /mcp HTTP/1.1" 200 10 "-" "node"']
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    analysis = analyze(log)
    assert analysis.clients["ip"].to_list() == ["198.51.100.7"]
    assert {f.code for f in analysis.findings} == {"log-field-missing"}  # nothing about a client
    report = analysis.ingest.inputs[0]
    assert report.non_request_kinds == {"logscope check's own request": 4} and report.rejected == 0
    watched = subprocess.run(
        [sys.executable, "-m", "logscope", "watch", str(log), "--from-start", "--once", "--jsonl"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert watched.returncode == 0 and "203.0.113.9" not in watched.stdout
