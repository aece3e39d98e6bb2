"""`logscope compare BEFORE AFTER`: did the fix work? On the bundled samples (the seed's five days, and the
day after the 308 fix) the two stuck clients now connect and the redirect finding is resolved."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from logscope.report.compare import change, compare_schema

from .conftest import SAMPLES, run_cli
from .test_html_report import CHROMIUM, hostile_log

SEED, AFTER = SAMPLES / "mcp-seed.access.log", SAMPLES / "mcp-after-fix.access.log"


def test_the_samples_show_the_fix_worked(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    done = run_cli("compare", str(SEED), str(AFTER), "--json", str(out), "--fail-on", "high")
    assert done.returncode == 0, done.stderr
    comparison = json.loads(out.read_text())
    jsonschema.validate(comparison, compare_schema())
    recovered = {(c["ip"], c["before"], c["after"]) for c in comparison["clients"] if c["change"] == "recovered"}
    assert recovered == {("158.51.125.197", "stuck", "connected"), ("54.67.34.241", "stuck", "connected")}
    assert "redirect-method-downgrade" in comparison["findings"]["resolved"]
    assert comparison["findings"]["new"] == [] and comparison["summary"]["regressed"] == 0
    assert comparison["before"]["totals"]["stuck_clients"] == 2 and comparison["after"]["totals"]["stuck_clients"] == 0
    assert "Clients that now connect (2)" in done.stdout and "Findings resolved: redirect-method-downgrade" in done.stdout


@pytest.mark.slow
def test_reports_compare_like_their_logs_and_fail_on_catches_a_regression(tmp_path: Path) -> None:
    """JSON reports written by analyze compare as their logs do; backwards, the fix is undone, and --fail-on
    makes that exit 1 (for cron and CI)."""
    reports = []
    for log in (SEED, AFTER):
        report = tmp_path / f"{log.stem}.json"
        assert run_cli("analyze", str(log), "--json", str(report), "--no-html", "--quiet").returncode == 0
        reports.append(report)
    from_logs, from_reports = tmp_path / "a.json", tmp_path / "b.json"
    run_cli("compare", str(SEED), str(AFTER), "--json", str(from_logs))
    run_cli("compare", str(reports[0]), str(reports[1]), "--json", str(from_reports))
    a, b = json.loads(from_logs.read_text()), json.loads(from_reports.read_text())
    assert a["clients"] == b["clients"] and a["findings"] == b["findings"]
    backwards = run_cli("compare", str(reports[1]), str(reports[0]), "--fail-on", "critical")
    assert backwards.returncode == 1 and "Findings new: redirect-method-downgrade" in backwards.stdout
    assert "Clients that got worse (2)" in backwards.stdout  # the fixed clients, connected -> stuck


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [("stuck", "connected", "recovered"), ("failing", "connected", "recovered"), ("connected", "stuck", "regressed"),
     ("stuck", "degraded", "improved"), (None, "stuck", "new"), ("connected", None, "gone"), ("degraded", "degraded", "unchanged")],
)  # fmt: skip
def test_what_a_change_is_called(before: str | None, after: str | None, expected: str) -> None:
    assert change(before, after) == expected


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    done = run_cli("compare", str(tmp_path / "missing.log"), str(AFTER))
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_compare_page_shows_log_text_as_text(tmp_path: Path) -> None:
    """A hostile log on one side: the page loads offline in Chromium, shows the changes, and runs nothing."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for the browser tests (.ci/run installs it)")
    html = tmp_path / "compare.html"
    done = run_cli("compare", str(hostile_log(tmp_path)), str(AFTER), "--html", str(html), "--stuck-after", "3")
    assert done.returncode == 0, done.stderr
    with playwright.sync_playwright() as manager:
        browser = manager.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page()
        dialogs, requests = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(html.as_uri())
        text = page.inner_text("#clients")
        injected = page.evaluate("document.querySelectorAll('#clients img, #clients script, #clients iframe').length")
        ran = page.evaluate("window.__xss === undefined ? null : window.__xss")
        browser.close()
    assert "<script>window.__xss = 1</script>" in text and "failing" in text  # the payload shown as text
    assert ran is None
    assert injected == 0 and dialogs == [] and requests == []
    assert "now connect" in html.read_text()
