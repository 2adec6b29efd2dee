"""analyzer.parse.failures, analyzer.model.signatures and analyzer.model.reruns: excerpts, normalization,
signatures, rerun rates."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from analyzer.model import signatures
from analyzer.model.reruns import Attempt, rerun_rates, wilson_interval
from analyzer.model.signatures import Failure, baseline_labels, cluster_excerpts, find_signatures, trend
from analyzer.parse.failures import (
    MAX_LINE_CHARS,
    Excerpt,
    clean_line,
    extract_excerpt,
    log_lines,
    normalize,
    normalize_line,
)
from tests.failure_histories import CAUSES, REALDATA, generated_failures, realdata_failures

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 3, 30, tzinfo=UTC)


def log(*lines: str) -> list[str]:
    return [f"2026-03-02T10:00:{k % 60:02d}.{k:07d}Z {line}" for k, line in enumerate(lines)]


# --------------------------------------------------------------------------------------------
# excerpts


def test_excerpt_takes_the_evidence_and_the_nearest_errors_of_its_step() -> None:
    """Error lines of earlier steps and the echoed script are left out; the failing test and its message are in."""
    lines = log(
        "##[group]Run make build", "Error: an earlier step's error", "##[endgroup]",
        "##[group]Run pytest -q", "\x1b[36;1mpytest -q || echo 'Error: not this'\x1b[0m", "##[endgroup]",
        "collected 12 items", "tests/test_api.py ..F", "    def test_create_user(client):",
        ">       assert response.status_code == 201", "E       assert 500 == 201",
        "FAILED tests/test_api.py::test_create_user - assert 500 == 201", "= 1 failed, 11 passed in 2.31s =",
        "##[error]Process completed with exit code 1.", "Post job cleanup.",
    )  # fmt: skip
    excerpt = extract_excerpt(lines, 14)
    assert excerpt.evidence_line == 14
    texts = [line.text for line in excerpt.lines]
    assert texts[-1] == "##[error]Process completed with exit code 1."
    assert "FAILED tests/test_api.py::test_create_user - assert 500 == 201" in texts
    assert "E       assert 500 == 201" in texts
    assert not any("earlier step" in t or "not this" in t for t in texts)
    assert [line.number for line in excerpt.lines] == sorted(line.number for line in excerpt.lines)
    assert {line.role for line in excerpt.lines} <= {"error", "context", "evidence"}


def test_excerpt_finds_its_evidence_without_a_line_number() -> None:
    """By the incident's evidence text, else the last ##[error] line."""
    lines = log("##[group]Run x", "##[endgroup]", "panic: boom", "##[error]Process completed with exit code 2.", "done")
    assert extract_excerpt(lines, None, evidence="Process completed with exit code 2.").evidence_line == 4
    assert extract_excerpt(lines).evidence_line == 4
    assert extract_excerpt(lines, 999).evidence_line == 4  # out of range: found again
    assert extract_excerpt([]).lines == ()


def test_excerpt_is_capped_in_lines_bytes_and_line_length() -> None:
    lines = ["##[group]Run t", "##[endgroup]"] + [f"FAIL test_{k} " + "x" * 5000 for k in range(100)]
    lines.append("##[error]Process completed with exit code 1.")
    excerpt = extract_excerpt(lines, len(lines), max_lines=5, max_bytes=1000)
    assert len(excerpt.lines) <= 5
    assert len(excerpt.text.encode()) <= 1000
    assert excerpt.lines[-1].role == "evidence"
    assert all(len(line.text) <= MAX_LINE_CHARS for line in extract_excerpt(lines, len(lines)).lines)


def test_bare_exit_code_uses_the_last_lines_and_the_command() -> None:
    lines = log("##[group]Run make defconfig", "##[endgroup]", "# configuration written", "yes: standard output: Broken pipe",
                "##[error]Process completed with exit code 1.")  # fmt: skip
    excerpt = extract_excerpt(lines, 5)
    roles = {line.text: line.role for line in excerpt.lines}
    assert roles["yes: standard output: Broken pipe"] == "error"
    assert roles["##[group]Run make defconfig"] == "context"


def test_cleaning_strips_prefixes_and_unsafe_characters() -> None:
    raw = "\ufeff2024-01-01T00:00:00.0000000Z \x1b[31mFAIL\x1b[0m\tx\u202eevil\x07\r"
    assert clean_line(raw) == "FAIL    xevil"
    assert log_lines(b"a\r\nb\n\xff") == ["a", "b", "\ufffd"]


def test_an_excerpt_round_trips_through_its_dict() -> None:
    excerpt = extract_excerpt(
        log("##[group]Run x", "##[endgroup]", "Error: no", "##[error]Process completed with exit code 1.")
    )
    assert Excerpt.from_dict(excerpt.to_dict()) == excerpt


# --------------------------------------------------------------------------------------------
# normalization


@pytest.mark.parametrize(
    ("line", "template"),
    [
        ("Pod web-6d7b9f-x2k4p not ready after 180.5s at 10.0.3.7:8443", "Pod web-<POD> not ready after <DUR> at <IP>"),
        ("error: timed out waiting for the condition on pods/notification-controller-77ccd99cdc-vc8h8",
         "error: timed out waiting for the condition on pods/notification-controller-<POD>"),
        ("[FAILED] Timed out after 180.000s.", "[FAILED] Timed out after <DUR>."),
        ("##[error]Process completed with exit code 137.", "##[error]Process completed with exit code 137."),
        ("    config_test.go:42: expected 3, got 4", "config_test.go:<N>: expected <N>, got <N>"),
        ("/home/runner/work/_temp/3315df8a-fb75-4538-ac93-30e81511ce40.sh: line 1: phpcs: No such file or directory",
         "<TMP>: line <N>: phpcs: No such file or directory"),
        ("request 123e4567-e89b-12d3-a456-426614174000 at 2024-01-02T03:04:05.123Z", "request <UUID> at <TS>"),
        ("addr=0x18 sha 888e0beae63d64c5034d57f94570c2a37232146b", "addr=<HEX> sha <HEX>"),
        ("See https://github.com/a/b/pull/1234 and PR #77, image ghcr.io/a/x:pr-24",
         "See https://github.com/a/b/pull/<PR> and PR #<PR>, image ghcr.io/a/x:pr-<PR>"),
        ("listening on localhost:8084 and http://db.example.com:5432/x", "listening on localhost:<PORT> and http://db.example.com:<PORT>/x"),
        ("/home/runner/work/repo/repo/src/a.ts:12:5 - error TS2304", "<WORK>/src/a.ts:<N>:<N> - error TS2304"),
        ("took 1m30s, then 250 ms", "took <DUR>, then <DUR>"),
        ("E501 line too long (117 > 79 characters) in test_case_3", "E501 line too long (<N> > <N> characters) in test_case_3"),
    ],
)  # fmt: skip
def test_normalization_examples(line: str, template: str) -> None:
    assert normalize_line(line) == template


def test_normalize_keeps_lines() -> None:
    assert normalize("a 1\nb 2") == "a <N>\nb <N>"


@FUZZ
@given(st.lists(st.text(), max_size=30), st.one_of(st.none(), st.integers(-5, 40)), st.one_of(st.none(), st.text()))
def test_arbitrary_text_never_crashes_extraction_or_normalization(
    lines: list[str], number: int | None, evidence: str | None
) -> None:
    excerpt = extract_excerpt(lines, number, evidence=evidence)
    assert len(excerpt.lines) <= 20
    for line in excerpt.lines:
        assert 1 <= line.number <= len(lines)
        assert "\n" not in line.text and "\x1b" not in line.text
        assert isinstance(normalize_line(line.text), str)
    assert isinstance(normalize("\n".join(lines)), str)


# --------------------------------------------------------------------------------------------
# signatures


def test_distinct_causes_get_distinct_signatures_and_one_cause_one_signature() -> None:
    """Eighteen causes (two Ginkgo specs with the same assertion, a spec timeout, a suite-setup
    failure, unit tests, lints, …), eight runs each with different numbers, ids, pods, output."""
    cases = generated_failures(seed=11, runs_per_cause=8)
    labels = cluster_excerpts([c.excerpt for c in cases])
    by_cause: dict[str, set[int]] = defaultdict(set)
    for case, label in zip(cases, labels, strict=True):
        by_cause[case.label].add(label)
    assert {cause: len(found) for cause, found in by_cause.items()} == dict.fromkeys(CAUSES, 1)
    owners = Counter(next(iter(found)) for found in by_cause.values())
    assert max(owners.values()) == 1  # no signature holds two causes


def test_method_beats_the_exact_first_error_line_baseline() -> None:
    cases = generated_failures(seed=12, runs_per_cause=6)
    truth = [c.label for c in cases]
    method = adjusted_rand_score(truth, cluster_excerpts([c.excerpt for c in cases]))
    baseline = adjusted_rand_score(truth, baseline_labels([c.excerpt for c in cases]))
    assert method > baseline
    assert method > 0.9


def test_large_components_fold_near_duplicates_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past EXACT_MAX texts per component the leader pass runs; causes still stay apart."""
    cases = generated_failures(
        seed=13, runs_per_cause=6, causes=["ginkgo-assert-remediation", "ginkgo-assert-notification", "go-unit-config"]
    )
    monkeypatch.setattr(signatures, "EXACT_MAX", 4)
    labels = cluster_excerpts([c.excerpt for c in cases])
    assert adjusted_rand_score([c.label for c in cases], labels) > 0.9


def test_signatures_carry_counts_members_kinds_jobs_and_examples() -> None:
    cases = generated_failures(seed=14, runs_per_cause=5)
    failures = [c.failure(job_id=100 + k) for k, c in enumerate(cases)]
    found = find_signatures(failures, now=NOW)
    assert [s.count for s in found] == [5] * len(CAUSES)
    kubectl = next(s for s in found if "postgresql" in s.title)
    assert kubectl.title == "error: timed out waiting for the condition on deployments/postgresql"
    assert kubectl.kinds == {"tool_timeout": 5}
    assert kubectl.jobs == {"CI / e2e": 5}
    assert kubectl.steps == {"Run ./hack/deploy.sh": 5}
    members = {f.job_id for f, c in zip(failures, cases, strict=True) if c.label == "kubectl-wait-postgres"}
    assert set(kubectl.member_ids) == members
    assert len(kubectl.examples) == 3
    assert [e.occurred_at for e in kubectl.examples] == sorted((e.occurred_at for e in kubectl.examples), reverse=True)
    times = [c.at for c in cases if c.label == "kubectl-wait-postgres"]
    assert (kubectl.first_seen, kubectl.last_seen) == (min(times), max(times))
    assert kubectl.id.startswith("sig-") and len({s.id for s in found}) == len(found)
    shape = kubectl.to_dict()
    assert set(shape) >= {
        "id",
        "template",
        "count",
        "kinds",
        "jobs",
        "steps",
        "first_seen",
        "last_seen",
        "trend",
        "examples",
    }
    assert set(shape["examples"][0]) >= {"run_id", "run_attempt", "job_id", "line"}


def test_trend_rule() -> None:
    week = timedelta(days=7)
    day = timedelta(days=1)
    assert trend([NOW - day], NOW, week) == ("new", 1, 0)
    assert trend([NOW - 10 * day, NOW - day, NOW - 2 * day], NOW, week) == ("growing", 2, 1)
    assert trend([NOW - 8 * day, NOW - 9 * day, NOW - day], NOW, week) == ("fading", 1, 2)
    assert trend([NOW - 30 * day], NOW, week) == ("fading", 0, 0)
    assert trend([NOW - 8 * day, NOW - 9 * day, NOW - day, NOW - 2 * day, NOW - 3 * day], NOW, week) == ("steady", 3, 2)
    assert trend([], NOW, week) == ("unknown", 0, 0)


def test_no_failures_no_signatures() -> None:
    assert find_signatures([]) == []
    assert cluster_excerpts([]) == []
    one = Failure(1, 1, 1, "CI", "t", None, "failure", None, Excerpt((), None))
    assert [s.count for s in find_signatures([one, one])] == [2]


@pytest.mark.realdata
@pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")
def test_real_failures_cluster_by_their_labels() -> None:
    """The hand-labelled real logs (tests/failure_labels.tsv): same cause together, others apart."""
    cases = realdata_failures()
    truth = [c.label for c in cases]
    labels = cluster_excerpts([c.excerpt for c in cases])
    assert adjusted_rand_score(truth, labels) > adjusted_rand_score(truth, baseline_labels([c.excerpt for c in cases]))
    together = {lab: {k for c, k in zip(cases, labels, strict=True) if c.label == lab} for lab in set(truth)}
    assert len(together["npm-enoent-package-json"]) == 1
    assert len(together["phpcs-missing"]) == 1  # two runs, different temp script paths
    assert together["runner-shutdown"].isdisjoint(together["operation-canceled"])


# --------------------------------------------------------------------------------------------
# reruns


def a(job: str, run: int, attempt: int, conclusion: str, kind: str | None = None) -> Attempt:
    return Attempt("CI", job, run, attempt, conclusion, kind)


def test_rerun_rates_on_a_known_history() -> None:
    history = [
        # e2e: 4 timeouts (job stopped by its limit shows as cancelled + job_timeout), 3 passed on rerun
        a("e2e", 1, 1, "cancelled", "job_timeout"), a("e2e", 1, 2, "success"),
        a("e2e", 2, 1, "timed_out"), a("e2e", 2, 2, "success"),
        a("e2e", 3, 1, "failure", "test_timeout"), a("e2e", 3, 2, "failure", "test_timeout"), a("e2e", 3, 3, "success"),
        # one failure never rerun, one rerun that failed for another reason
        a("e2e", 4, 1, "failure"),
        a("e2e", 5, 1, "failure"), a("e2e", 5, 2, "failure"),
        a("e2e", 6, 1, "success"),
        # unit: a cancel is neither a failure nor a timeout; reruns of another job do not count
        a("unit", 1, 1, "cancelled", "cancelled"), a("unit", 1, 2, "success"),
        a("unit", 7, 1, "failure"), a("unit", 7, 3, "success"),  # attempt 2 did not run this job
        a("lint", 8, 1, "success"),
    ]  # fmt: skip
    rates = {r.job: r for r in rerun_rates(history)}
    assert set(rates) == {"e2e", "unit"}
    e2e = rates["e2e"]
    assert (e2e.failures.failed_attempts, e2e.failures.reruns, e2e.failures.passed_on_rerun) == (7, 5, 3)
    assert e2e.failures.rate == pytest.approx(3 / 5)
    assert (e2e.timeouts.failed_attempts, e2e.timeouts.reruns, e2e.timeouts.passed_on_rerun) == (4, 4, 3)
    assert e2e.timeouts.rate_ci == wilson_interval(3, 4)
    unit = rates["unit"]
    assert (unit.failures.failed_attempts, unit.failures.reruns, unit.failures.passed_on_rerun) == (1, 1, 1)
    assert (unit.timeouts.failed_attempts, unit.timeouts.reruns, unit.timeouts.rate, unit.timeouts.rate_ci) == (
        0,
        0,
        None,
        None,
    )
    shape = e2e.to_dict()
    assert shape["passed_on_rerun"] == 3 and shape["timeouts"]["passed_on_rerun"] == 3
    assert shape["rate_ci"][0] < 0.6 < shape["rate_ci"][1]


def test_wilson_interval_values() -> None:
    """Against the closed form: 3 of 4 → (0.3006, 0.9544); 0 of 10 → (0, 0.2775); no trials → None."""
    low, high = wilson_interval(3, 4)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.3006, 0.9544)
    low, high = wilson_interval(0, 10)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.0, 0.2775)
    assert wilson_interval(0, 0) is None


def test_rerun_order_of_records_never_matters() -> None:
    history = [a("e2e", r, k, "failure" if k < 3 else "success") for r in range(5) for k in (1, 2, 3)]
    assert rerun_rates(history) == rerun_rates(list(reversed(history)))


@FUZZ
@given(st.binary(max_size=300))
def test_lazy_log_lines_read_as_log_lines(data: bytes) -> None:
    """``LogLines`` (decoded on access, what the store's excerpts are cut from) numbers and reads
    lines as ``log_lines`` and the parser do: only LF ends a line."""
    from analyzer.parse.failures import LogLines

    lazy = LogLines(data)
    assert list(lazy) == log_lines(data)
    assert len(lazy) == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


@FUZZ
@given(st.lists(st.sampled_from(["FAIL", "fail", "Error", "error:", "ERROR", "panic:", "TIMEDOUT", "[INTERRUPTED]", "assert",
                                 "Expected", "got", "timed out", "Killed", "exit code 2", "not found", "✕", "rspec ./a_spec.rb:3",
                                 "E1234 ", "npm ERR!", "a.go:12: ", "  ", "x", "[", "]", "Exception", "::", "Traceback (most recent call last)"]),
                max_size=6).map("".join) | st.text(max_size=60))
def test_the_error_line_prefilter_never_changes_the_answer(text: str) -> None:
    """``is_error_line`` skips the full pattern for lines without any of its words; the answer is the
    full pattern's."""
    from analyzer.parse import failures

    full = failures._ERROR_RE.search(text) is not None and failures._BOILERPLATE_RE.match(text) is None
    assert failures.is_error_line(text) == full


def test_lazy_log_lines_across_blocks() -> None:
    """A log of many blocks (``LogLines.BLOCK`` lines each) reads as ``log_lines`` whichever line is read first:
    from the end backwards (an excerpt without its evidence line), the middle, then the start."""
    from analyzer.parse.failures import LogLines

    lines = [f"2026-01-01T00:00:{k % 60:02d}.0000000Z line {k}" + ("\r" if k % 7 == 0 else "") + " é" * (k % 3)
             for k in range(3 * LogLines.BLOCK + 17)]  # fmt: skip
    for data in ("\n".join(lines).encode(), ("\n".join(lines) + "\n").encode(), ("\n" * 5000).encode()):
        expected = log_lines(data)
        lazy = LogLines(data)
        assert len(lazy) == len(expected)
        assert [lazy[i] for i in range(len(lazy) - 1, -1, -1)] == expected[::-1]
        middle = LogLines(data)
        assert middle[len(expected) // 2] == expected[len(expected) // 2]
        assert middle[-1] == expected[-1] and list(middle) == expected and middle[5:9] == expected[5:9]
        with pytest.raises(IndexError):
            middle[len(expected)]
