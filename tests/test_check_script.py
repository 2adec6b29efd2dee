"""``scripts/check.sh``: ruff, mypy, pytest in that order, and a pytest run that collected nothing fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_check(tmp_path: Path, *, ruff: int = 0, mypy: int = 0, pytest_code: int = 0) -> subprocess.CompletedProcess[str]:
    """check.sh with ruff, mypy and ``python`` (for ``python -m pytest``) replaced by stubs exiting with these codes."""
    for name, code in (("ruff", ruff), ("mypy", mypy), ("python", pytest_code)):
        stub = tmp_path / name
        stub.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {tmp_path / 'calls'}\nexit {code}\n")
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(ROOT / "scripts" / "check.sh"), "-q"], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("code", [0, 1, 5])
def test_the_check_fails_with_pytest_and_never_passes_on_no_tests(tmp_path: Path, code: int) -> None:
    """Exit 5 ("no tests collected") is a failure, with a word on stderr; pytest's own code is kept."""
    done = run_check(tmp_path, pytest_code=code)
    assert done.returncode == code
    assert ("collected no tests" in done.stderr) == (code == 5)
    assert (tmp_path / "calls").read_text().splitlines() == ["ruff check .", "mypy", "python -m pytest -q"]


def test_lint_and_types_come_first(tmp_path: Path) -> None:
    """A ruff failure stops the check before mypy and pytest run."""
    done = run_check(tmp_path, ruff=1)
    assert done.returncode == 1
    assert (tmp_path / "calls").read_text().splitlines() == ["ruff check ."]
