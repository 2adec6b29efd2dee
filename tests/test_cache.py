"""The per-user cache of derived values (``analyzer/cache.py``), as parsed workflow files use it: a value is
derived once per content and code, read back only from this user's own directory and only as the classes
its user allows; anything wrong with it means deriving again, never an error or a wrong value."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from analyzer import cache
from analyzer.advise import workflows
from analyzer.advise.workflows import parse_workflow

WORKFLOW = """name: E2E
on: push
jobs:
  e2e:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    strategy:
      matrix:
        python: ["3.11", "3.12"]
        since: [2024-01-01]
    steps:
      - name: Create cluster
        timeout-minutes: 10
        run: kind create cluster
"""


@pytest.fixture
def where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(directory))
    return directory


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the real parses (``_parse_workflow`` calls)."""
    parsed: list[str] = []
    real = workflows._parse_workflow

    def counted(text: str, path: str) -> workflows.WorkflowSpec:
        parsed.append(path)
        return real(text, path)

    monkeypatch.setattr(workflows, "_parse_workflow", counted)
    return parsed


def test_a_workflow_is_parsed_once_per_text_and_path(where: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _counting(monkeypatch)
    first = parse_workflow(WORKFLOW, ".github/workflows/e2e.yml")
    again = parse_workflow(WORKFLOW, ".github/workflows/e2e.yml")
    assert first == again and parsed == [".github/workflows/e2e.yml"]
    assert again.jobs[0].timeout is not None and again.jobs[0].timeout.line == 5  # positions kept (patches use them)
    assert again.jobs[0].matrix[0].values["since"].isoformat() == "2024-01-01"  # a YAML date
    parse_workflow(WORKFLOW, "other.yml")  # another path
    parse_workflow(WORKFLOW.replace("30", "45"), ".github/workflows/e2e.yml")  # another text
    assert len(parsed) == 3 and len(list(where.glob("workflow-*.pickle"))) == 3
    assert (where.stat().st_mode & 0o777) == 0o700


def test_a_torn_or_foreign_file_is_parsed_again_and_builds_nothing_else(where: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _counting(monkeypatch)
    expected = parse_workflow(WORKFLOW, "e2e.yml")
    (kept,) = where.glob("workflow-*.pickle")
    kept.write_bytes(kept.read_bytes()[:40])  # torn
    assert parse_workflow(WORKFLOW, "e2e.yml") == expected and len(parsed) == 2

    marker = where.parent / "built"

    class Planted:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # what a planted pickle would run

    kept.write_bytes(pickle.dumps(Planted()))
    assert parse_workflow(WORKFLOW, "e2e.yml") == expected and len(parsed) == 3
    assert not marker.exists()  # refused by the restricted unpickler
    assert parse_workflow(WORKFLOW, "e2e.yml") == expected and len(parsed) == 3  # saved over: kept again


def test_a_directory_others_may_write_or_off_is_not_used(where: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _counting(monkeypatch)
    where.mkdir()
    os.chmod(where, 0o777)
    parse_workflow(WORKFLOW, "e2e.yml")
    parse_workflow(WORKFLOW, "e2e.yml")
    assert len(parsed) == 2 and not list(where.iterdir()) and cache.directory() is None
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert cache.directory() is None and not cache.save("workflow", "x", 1)
    monkeypatch.setenv(cache.CACHE_ENV, str(where.parent / "a-file"))
    (where.parent / "a-file").write_text("x", encoding="utf-8")
    assert cache.directory() is None and parse_workflow(WORKFLOW, "e2e.yml").name == "E2E"


def test_a_value_that_cannot_be_kept_is_not_an_error(where: Path) -> None:
    assert not cache.save("workflow", "x", lambda: None)  # not picklable
    assert cache.save("workflow", "y", {"a": 1}) and not list(where.glob(".*.tmp"))
    assert (where / "workflow-y.pickle").stat().st_mode & 0o777 == 0o600
    assert cache.load("workflow", "y", {}) == {"a": 1} and cache.load("workflow", "x", {}) is None


def test_keys_delimit_their_parts() -> None:
    assert cache.key("ab", "c") != cache.key("a", "bc") and cache.key("a", b"b") == cache.key(b"a", "b")


def test_an_invalid_workflow_is_not_kept(where: Path) -> None:
    from analyzer.errors import InputError

    for _ in range(2):
        with pytest.raises(InputError):
            parse_workflow("jobs: [unclosed", "bad.yml")
    assert not list(where.glob("workflow-*"))


def test_the_cache_removes_what_it_keeps_no_longer_and_nothing_that_is_not_its_own(
    where: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save removes the values unused for 30 days and, past ``MAX_VALUES``, the least recently used down to
    ``KEEP_VALUES`` (a value read counts as used: an old one read just now stays); compiled templates written
    30 days ago; a killed save's temporary file after an hour (not one that may still be being written). Files
    it did not name itself stay, however old: ``$WE_ADVISOR_CACHE_DIR`` may name a directory that holds others."""
    import time

    monkeypatch.setattr(cache, "MAX_VALUES", 6)
    monkeypatch.setattr(cache, "KEEP_VALUES", 4)
    names = [cache.key(str(n)) for n in range(8)]
    an_hour_ago, long_ago = time.time() - 2 * 3600, time.time() - 31 * 86400

    def written(name: str, data: bytes, when: float | None = None) -> None:
        (where / name).write_bytes(data)
        if when is not None:
            os.utime(where / name, (when, when))

    for n in range(6):
        assert cache.save("workflow", names[n], n)
        os.utime(where / f"workflow-{names[n]}.pickle", (an_hour_ago + n, an_hour_ago + n))  # 0 the oldest
    assert cache.load("workflow", names[0], {}) == 0  # read: now the most recent
    written(f"workflow-{names[6]}.pickle", pickle.dumps(6), long_ago)  # unused for 31 days
    old_template, new_template = (cache.template_pattern(a * 16) % (b * 40) for a, b in (("a", "b"), ("c", "d")))
    written(old_template, b"code", long_ago)
    written(new_template, b"code")
    written(".workflow-killed1.tmp", b"torn", an_hour_ago)
    written(".workflow-running.tmp", b"being written")
    foreign = {"model.pickle": b"a user's", ".draft.tmp": b"a user's", "workflow-notahash.pickle": b"not ours"}
    for name, data in foreign.items():
        written(name, data, long_ago)
    assert cache.save("workflow", names[7], 7)  # 8 values: 6 (unused for 31 days) goes, then 1, 2, 3 (the LRU)
    kept = sorted(p.name for p in where.glob("workflow-*.pickle") if p.name not in foreign)
    assert kept == sorted(f"workflow-{names[n]}.pickle" for n in (0, 4, 5, 7))
    assert [cache.load("workflow", names[n], {}) for n in (0, 1, 6, 7)] == [0, None, None, 7]
    assert not (where / old_template).exists() and (where / new_template).exists()
    assert not (where / ".workflow-killed1.tmp").exists() and (where / ".workflow-running.tmp").exists()
    assert {name: (where / name).read_bytes() for name in foreign} == foreign
