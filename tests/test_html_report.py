"""The HTML report in a real browser (Debian's chromium driven by Playwright): it loads offline with no
console errors, shows the headline and the inventory, and renders hostile log text as text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import SAMPLES, run_cli, run_on_a_terminal

pytestmark = pytest.mark.slow  # `pytest -m 'not slow'`: the fast lane

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

PAYLOADS = [
    "<script>window.__xss = 1</script>",
    "</script><script>window.__xss = 2</script>",
    '"><img src=x onerror="window.__xss = 3">',
    "{{7*7}} ${7*7} {% raw %}<%= 7*7 %>",
    "javascript:window.__xss=4",
]


def hostile_log(tmp_path: Path) -> Path:
    lines = []
    for i, payload in enumerate(PAYLOADS):
        ua = payload.replace('"', "\\x22")  # as nginx escapes a quote in a logged value
        for k in range(12):
            t = f"20/May/2026:10:{i * 5 + k // 6:02d}:{(k % 6) * 9:02d} +0000"
            lines.append(
                f'203.0.113.{i + 1} - - [{t}] "POST /mcp?q={payload.replace(" ", "%20").replace(chr(34), "%22")} HTTP/1.1" 301 0 "-" "{ua}"'
            )
            lines.append(f'203.0.113.{i + 1} - - [{t}] "GET /mcp HTTP/1.1" 400 0 "-" "{ua}"')
    path = tmp_path / "hostile.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def open_page(html: Path, shot: str):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser tests (.ci/run installs it)")
    manager = playwright.sync_playwright().start()
    browser = manager.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(html.as_uri())
    page.wait_for_function("document.querySelectorAll('#arch-table tbody tr').length > 0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return manager, browser, page, errors, requests, dialogs


def test_report_loads_offline_and_shows_headline_and_inventory(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    result = run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--html", str(html), "-q")
    assert result.returncode == 0 and f"HTML report: {html}" in result.stderr
    assert html.stat().st_size < 8 * 2**20
    manager, browser, page, errors, requests, dialogs = open_page(html, "sample-report.png")
    try:
        assert errors == [] and requests == [] and dialogs == []
        assert page.locator("#headline").is_visible()
        assert "2 clients stuck since 2026-05-18T10:07:00Z" in page.locator("#headline").inner_text()
        assert "return 308" in page.locator("#headline").inner_text()
        rows = page.locator("#arch-table tbody tr")
        assert rows.count() >= 9 and "MCP-Client" in rows.nth(0).inner_text()
        # Filtering and the drill-down work.
        page.fill("#client-filter", "MCP-Client")
        assert page.locator("#client-table tbody tr").count() == 1
        page.locator("#client-table tbody tr").first.click()
        flow = page.locator("#dd-flow").inner_text()
        assert "301" in flow and "→" in flow
        assert page.locator("#chart-attempts .main-svg").count() > 0  # Plotly drew the chart
    finally:
        browser.close()
        manager.stop()


def test_hostile_log_text_is_shown_as_text_and_never_runs(tmp_path: Path) -> None:
    html = tmp_path / "hostile.html"
    result = run_cli("analyze", str(hostile_log(tmp_path)), "--html", str(html), "--json", str(tmp_path / "r.json"), "-q")
    assert result.returncode == 0, result.stderr
    raw = html.read_text()
    assert "<script>window.__xss" not in raw and "<img src=x" not in raw
    manager, browser, page, errors, requests, dialogs = open_page(html, "hostile-report.png")
    try:
        assert page.evaluate("window.__xss") is None
        assert errors == [] and dialogs == [] and requests == []
        assert page.locator("img").count() == 0
        shown = page.locator("#client-table").inner_text()
        assert "<script>window.__xss = 1</script>" in shown and "{{7*7}}" in shown and "49" not in shown
        evidence = page.locator("#findings").text_content()  # evidence sits in a collapsed <details>
        assert '"POST /mcp?q=<script>window.__xss%20=%201</script>"' in evidence
    finally:
        browser.close()
        manager.stop()
    report = json.loads((tmp_path / "r.json").read_text())
    assert {c["user_agent"] for c in report["clients"]} >= {PAYLOADS[0]}


def test_progress_and_colour_only_on_a_terminal(tmp_path: Path) -> None:
    log = str(SAMPLES / "mcp-seed.access.log")
    shown = run_on_a_terminal("analyze", log, "--no-html")
    assert "reading" in shown and "lines" in shown  # the progress line, on stderr
    assert "\x1b[" in shown  # colour
    piped = run_cli("analyze", log, "--no-html")
    assert "reading" not in piped.stderr and "\x1b[" not in piped.stdout + piped.stderr
    quiet = run_on_a_terminal("analyze", log, "--no-html", "--quiet")
    assert "reading" not in quiet


def test_the_pictures_come_first_and_tell_the_seed_story(tmp_path: Path) -> None:
    """Headline, pictures, findings, architectures, clients: in that order. The timeline draws each stuck client's
    every attempt labelled with its typical failing flow; the redirect picture shows the POSTs turned into GETs."""
    html = tmp_path / "report.html"
    assert run_cli("analyze", str(SAMPLES / "mcp-seed.access.log"), "--html", str(html), "-q").returncode == 0
    manager, browser, page, errors, requests, dialogs = open_page(html, "sample-pictures.png")
    try:
        assert errors == [] and requests == [] and dialogs == []
        order = page.evaluate("[...document.querySelectorAll('#headline, section > h2')].map(e => e.id || e.textContent)")
        assert order[0] == "headline" and order[1] == "Pictures"
        assert [o.split(" (")[0] for o in order[2:5]] == ["Findings", "Client architectures", "MCP clients"]
        timeline = page.locator("#chart-timeline")
        assert timeline.locator(".main-svg").count() > 0
        labels = timeline.locator(".ytick text").all_text_contents()
        assert len(labels) == 2 and any("54.67.34.241" in t and "POST /mcp/sse 301 → GET /mcp/sse 400" in t for t in labels)
        from logscope.report.html_report import MAX_ATTEMPTS_SHOWN

        points = page.evaluate("document.getElementById('chart-timeline').data[0].x.length")
        assert points == min(957, MAX_ATTEMPTS_SHOWN) + 152  # every failed attempt, up to the cap per client
        assert "turned into GET" in page.locator("#chart-redirects").text_content()
        assert "by architecture" in page.locator("#chart-by_architecture").text_content()
        assert "316" in page.locator("#others-note").inner_text()  # the non-MCP clients, summarised
        page.screenshot(path=str(ARTIFACTS / "sample-report-top.png"))  # the README's picture (docs/report.png)
    finally:
        browser.close()
        manager.stop()


def test_fifty_thousand_clients_stay_usable(tmp_path: Path) -> None:
    """A page of 50,000 MCP clients: under 20 MB; paged, filtered and sorted over every client in Chromium."""
    log = tmp_path / "many.log"
    with log.open("w") as out:
        for i in range(50_000):
            ip = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
            out.write(f'{ip} - - [20/May/2026:10:{i % 60:02d}:{i % 57:02d} +0000] "POST /mcp HTTP/1.1" 200 42 "-" "node"\n')
        for k in range(12):  # and one stuck client among them
            out.write(f'203.0.113.9 - - [20/May/2026:11:{k * 3:02d}:00 +0000] "POST /mcp HTTP/1.1" 406 0 "-" "python-httpx/0.28.1"\n')
    html = tmp_path / "many.html"
    assert run_cli("analyze", str(log), "--html", str(html), "-q").returncode == 0
    assert html.stat().st_size < 20 * 2**20
    manager, browser, page, errors, requests, dialogs = open_page(html, "many-clients.png")
    try:
        assert errors == [] and requests == [] and dialogs == []
        assert page.locator("#client-table tbody tr").count() == 100
        assert "of 501 (50001 clients)" in page.inner_text("#client-page")
        assert "203.0.113.9" in page.locator("#client-table tbody tr").first.inner_text()  # stuck first
        page.click("#client-next")
        assert "page 2 of 501" in page.inner_text("#client-page")
        page.fill("#client-filter", "10.0.100.255")
        assert page.locator("#client-table tbody tr").count() == 1
        page.fill("#client-filter", "")
        page.click("#client-table th[data-key='ip']")
        first = page.locator("#client-table tbody tr").first.inner_text()
        assert first.startswith("10.0.0.0")  # sorted over all 50,001, not over one page
    finally:
        browser.close()
        manager.stop()
