"""The report in a real browser (Debian's Chromium through Playwright): the charts are drawn,
visible and sized, with data and without; the printable page prints to PDF.

Playwright's sync API runs its own event loop, so the browser works in a worker thread
while the Django test client renders the pages in the test's thread."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.earnings.conftest import staff_client
from tests.support.chromium import CHROMIUM

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("chromium_path")]


def _in_browser(html: str, shot: Path | None, pdf: bool) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1400})
            page.set_content(html, wait_until="load")
            if shot is not None:
                page.screenshot(path=str(shot), full_page=True)
            bars = page.locator("#chart-rules rect.bar")
            lines = page.locator("#chart-pnl polyline.series")
            return {
                "charts": {c: page.locator(c).bounding_box()
                           for c in ("#chart-pnl", "#chart-rules")},
                "lines": [lines.nth(i).bounding_box() for i in range(lines.count())],
                "bars": [bars.nth(i).bounding_box() for i in range(bars.count())],
                "kpi_net": page.locator("#kpi-net").inner_text(),
                "no_data": page.get_by_text("no data in this window").count(),
                "action_links": page.locator(".actions a").count(),
                "pdf": page.pdf(format="A4", print_background=True) if pdf else b"",
            }
        finally:
            browser.close()


def browse(html: str, *, shot: Path | None = None, pdf: bool = False) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_in_browser, html, shot, pdf).result(timeout=90)


def test_charts_render_in_chromium(week: dt.datetime, tmp_path: Path) -> None:
    html = staff_client().get("/reports/earnings/?window_hours=168").content.decode()
    seen = browse(html, shot=tmp_path / "report.png")
    for chart, box in seen["charts"].items():
        assert box is not None and box["width"] > 600 and box["height"] > 80, chart
    assert len(seen["lines"]) == 2
    assert all(box is not None and box["width"] > 500 for box in seen["lines"])
    widths = [box["width"] for box in seen["bars"]]
    assert len(widths) == 3
    assert widths[0] > widths[1] >= widths[2] > 0  # config 2 blocks, the others 1
    assert "4.39 USDT" in seen["kpi_net"]
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_empty_report_renders_and_prints(tmp_path: Path) -> None:
    html = staff_client().get("/reports/earnings/?window_hours=24&print=1").content.decode()
    seen = browse(html, shot=tmp_path / "empty.png", pdf=True)
    assert seen["no_data"] == 1
    assert seen["action_links"] == 0  # the printable layout hides the links
    assert seen["charts"]["#chart-rules"]["height"] > 30
    assert seen["pdf"][:5] == b"%PDF-" and len(seen["pdf"]) > 5_000
    (tmp_path / "report.pdf").write_bytes(seen["pdf"])
