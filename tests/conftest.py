"""Shared fixtures: real SQLite stores in tmp_path, paths to ../shared/realdata."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.store import Store

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "store.db") as db:
        yield db


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    return REALDATA
