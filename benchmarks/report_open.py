#!/usr/bin/env python3
"""How big the HTML report is, and how soon Chromium shows it.

    python benchmarks/report_open.py                       # the 2M-line benchmark log (written if missing)
    python benchmarks/report_open.py --lines 1000000
    python benchmarks/report_open.py --html report.html    # a report already written

Runs `logscope analyze LOG --html` on benchmarks/analyze_speed.py's nginx file, then opens the page in
Debian's Chromium (Playwright, three fresh browsers) and times it from navigation to the moment its first
page of clients is in the table and its charts are drawn. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_speed import DATA, write_nginx

CHROMIUM = "/usr/bin/chromium"
READY = "document.querySelectorAll('#client-table tbody tr').length > 0 && document.querySelector('#chart-attempts .main-svg') !== null"


def open_time(html: Path) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        started = time.monotonic()
        page.goto(html.as_uri(), wait_until="commit")
        page.wait_for_function(READY, timeout=120_000)
        seconds = time.monotonic() - started
        rows = page.evaluate("document.getElementById('client-page').textContent")
        browser.close()
    print(f"   opened in {seconds:5.2f} s ({rows})")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--html", type=Path)
    args = parser.parse_args()
    html = args.html
    if html is None:
        log = DATA / f"mcp-nginx-{args.lines}.log"
        if not log.exists():
            DATA.mkdir(exist_ok=True)
            write_nginx(log, args.lines)
        html = Path(tempfile.mkdtemp()) / "report.html"
        subprocess.run([sys.executable, "-m", "logscope", "analyze", str(log), "--html", str(html), "--quiet"], check=True)
        print(f"{log.name}: {args.lines:,} lines")
    print(f" report {html}: {html.stat().st_size / 2**20:.1f} MiB")
    times = [open_time(html) for _ in range(3)]
    print(f" Chromium showed it in {min(times):.2f}-{max(times):.2f} s (three fresh browsers)")


if __name__ == "__main__":
    main()
