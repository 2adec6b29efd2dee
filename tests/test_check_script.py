"""``scripts/check.sh``: ruff, mypy, the workflow audits, pytest in that order, and a pytest run that collected
nothing fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_check(tmp_path: Path, *, ruff: int = 0, mypy: int = 0, pytest_code: int = 0) -> subprocess.CompletedProcess[str]:
    """check.sh with ruff, mypy, zizmor and ``python`` replaced by stubs: ``python -m pytest`` exits with
    ``pytest_code``, ``python scripts/actionlint.py`` with 0."""
    for name, code in (("ruff", ruff), ("mypy", mypy), ("zizmor", 0), ("python", pytest_code)):
        stub = tmp_path / name
        exit_code = f'[ "$1" = "-m" ] && exit {code}; exit 0' if name == "python" else f"exit {code}"
        stub.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {tmp_path / 'calls'}\n{exit_code}\n")
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(ROOT / "scripts" / "check.sh"), "-q"], env=env, capture_output=True, text=True, timeout=60)


def calls(tmp_path: Path) -> list[str]:
    """The stubbed commands check.sh ran, by name (arguments kept for pytest)."""
    lines = (tmp_path / "calls").read_text().splitlines()
    return [line if line.startswith(("python -m", "ruff")) else " ".join(line.split()[:2]) for line in lines]


@pytest.mark.parametrize("code", [0, 1, 5])
def test_the_check_fails_with_pytest_and_never_passes_on_no_tests(tmp_path: Path, code: int) -> None:
    """Exit 5 ("no tests collected") is a failure, with a word on stderr; pytest's own code is kept."""
    done = run_check(tmp_path, pytest_code=code)
    assert done.returncode == code
    assert ("collected no tests" in done.stderr) == (code == 5)
    assert calls(tmp_path) == ["ruff check .", "mypy", "zizmor --offline", "python scripts/actionlint.py", "python -m pytest -q"]


def test_lint_and_types_come_first(tmp_path: Path) -> None:
    """A ruff failure stops the check before mypy and pytest run."""
    done = run_check(tmp_path, ruff=1)
    assert done.returncode == 1
    assert calls(tmp_path) == ["ruff check ."]
