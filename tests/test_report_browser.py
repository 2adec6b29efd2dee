"""The HTML report in headless Chromium (selenium + Debian's chromium-driver).

No console errors, no network request of any kind (the page is one self-contained file), and a
``<script>`` planted in a step name and in a log line does not run. Skipped when Chromium or
selenium is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_report import make_inputs

from analyzer.present.context import build_context
from analyzer.present.html import render_html

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

# Other modules reuse these: ``needs_chromium`` as a marker, ``chromium()`` and ``open_page()``.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or not Path(DRIVER).exists() or importlib.util.find_spec("selenium") is None,
    reason="chromium/chromedriver/selenium not installed",
)
pytestmark = [pytest.mark.browser, needs_chromium]


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """Headless Chromium through chromedriver, logging the console and every network request."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


# A fresh Chromium's tab starts on its own new-tab page (chrome://new-tab-page-third-party/),
# which may still be loading resources (chrome://..., a data: GIF) into the log of the first
# page a test opens; requests made by such a document are never the report's.
_BROWSER_OWN = ("chrome://", "chrome-untrusted://", "devtools://")


def open_page(browser: Any, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Load ``path``; the console entries and the URLs of all requests made while loading it
    (but those of Chromium's own pages, see ``_BROWSER_OWN``)."""
    browser.get_log("browser")  # drain anything from before
    browser.get_log("performance")
    browser.get(path.as_uri())
    console = browser.get_log("browser")
    requests = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent" and not params.get("documentURL", "").startswith(_BROWSER_OWN):
            requests.append(params["request"]["url"])
    return console, requests


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
