"""Shared fixtures: real SQLite stores in tmp_path, the one GitHub stand-in, one Chromium per module,
paths to ../shared/realdata."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analyzer.store import Store
from tests.browser import chromium
from tests.fake_github import COMMENT_PR, FakeGitHub
from tests.postgres import REQUIRE_ENV, PostgresServer, missing_reason

# the per-user cache of derived values (analyzer/cache.py) of this test run, commands run by it included:
# a directory of its own, not the machine's
if "WE_ADVISOR_CACHE_DIR" not in os.environ:
    os.environ["WE_ADVISOR_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="we-advisor-test-cache-")
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
SAMPLE = ROOT / "data" / "sample"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.slow`` tests (long variants, load-sensitive timings) run only when asked for:
    ``python -m pytest -m slow`` (or any ``-m`` expression naming ``slow``)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="a long variant: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.db") as db:
        yield db


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new store on each backend: a SQLite file, and a database on the private PostgreSQL server."""
    location = str(tmp_path / "store.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with Store(location) as db:
        yield db


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    return REALDATA


@pytest.fixture
def comment_github() -> Iterator[FakeGitHub]:
    """The GitHub stand-in with no history: an empty repository whose pull request ``COMMENT_PR`` takes
    comments, listed two to a page (``tests.fake_github``: the one fake GitHub of the tests)."""
    with FakeGitHub() as fake:
        fake.pulls.add(COMMENT_PR)
        fake.comment_page_size = 2
        yield fake


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the session (``tests/postgres.py``); skipped where PostgreSQL
    is not installed, unless ``WE_ADVISOR_REQUIRE_POSTGRES=1`` (CI), where that fails."""
    reason = missing_reason()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The URL (password included) of a new, empty database on the private server."""
    return pg_server.database()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for a test module (mark the tests with ``browser.needs_chromium``)."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver
