"""Headless Chromium for the tests that look at the HTML report (selenium + Debian's chromium-driver).

``needs_chromium`` skips a test where Chromium, chromedriver or selenium is missing (``.ci/run``
installs them); ``chromium()`` starts one; ``open_page()`` loads a file and says what it logged and
requested. The ``browser`` fixture (``conftest.py``) is one Chromium per test module.
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

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or not Path(DRIVER).exists() or importlib.util.find_spec("selenium") is None,
    reason="chromium/chromedriver/selenium not installed",
)


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
