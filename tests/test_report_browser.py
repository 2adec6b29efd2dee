"""The HTML report in headless Chromium (selenium + Debian's chromium-driver).

No console errors, no network request of any kind (the page is one self-contained file), and a
``<script>`` planted in a step name and in a log line does not run. Skipped when Chromium or
selenium is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_report import make_inputs

from analyzer.present.context import build_context
from analyzer.present.html import render_html
from tests.browser import needs_chromium, open_page

pytestmark = [pytest.mark.browser, needs_chromium]


def test_report_loads_without_errors_or_network(browser: Any, tmp_path: Path) -> None:
    """The page itself is the only resource: no CDN, no font, no image fetch; the console is clean."""
    path = tmp_path / "index.html"
    path.write_text(render_html(build_context(make_inputs())), encoding="utf-8")
    console, requests = open_page(browser, path)
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    assert requests == [path.as_uri()]
    assert browser.find_element("css selector", "#act li").text.startswith("1.") or browser.find_element(
        "css selector", "#act li"
    ).text
    assert len(browser.find_elements("css selector", "svg.chart")) >= 10


def test_planted_script_does_not_run(browser: Any, tmp_path: Path) -> None:
    """A <script> in a step name and in an evidence line is shown as text and never executes."""
    path = tmp_path / "planted.html"
    path.write_text(render_html(build_context(make_inputs(planted=True))), encoding="utf-8")
    console, requests = open_page(browser, path)
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.title != "PWNED"
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.images.length") == 0  # the <img onerror> stayed text
    assert "window.__pwned = 1" in browser.find_element("css selector", "#incidents").text
    assert [e for e in console if e["level"] == "SEVERE"] == []
    assert requests == [path.as_uri()]


def test_queue_panel_shows_the_pool_that_fell_short(browser: Any, tmp_path: Path) -> None:
    """The queue-time panel renders in Chromium: the self-hosted pool whose wait grew this week is the
    first row, highlighted; each pool has its weekly chart, the short week marked as a regression."""
    path = tmp_path / "queue.html"
    path.write_text(render_html(build_context(make_inputs())), encoding="utf-8")
    console, _ = open_page(browser, path)
    assert [e for e in console if e["level"] == "SEVERE"] == []
    panel = browser.find_element("css selector", "#queue")
    assert panel.is_displayed()
    first = panel.find_element("css selector", "table.queue tbody tr")
    assert first.get_attribute("class") == "worse"
    assert first.find_element("css selector", "td.name").text == "self-hosted, linux, kind"
    charts = panel.find_elements("css selector", "article.queue-pool svg.chart")
    assert len(charts) == 2 and all(c.size["width"] > 100 for c in charts)
    assert len(charts[0].find_elements("css selector", "circle.reg")) == 1
    assert "p95 wait for a runner" in browser.find_element("css selector", ".kpis").text
