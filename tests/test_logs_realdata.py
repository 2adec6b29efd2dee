"""analyzer.parse.logs against real GitHub Actions logs in ../shared/realdata (skipped when absent)."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analyzer.errors import LogParseError
from analyzer.parse.logs import parse_job_log, parse_step_logs
from analyzer.records import ParsedLog, StepInfo

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent"),
]

NOT_LOGS = {"PROVENANCE.tsv", "README.md"}


def strip_pytorch_markers(data: bytes) -> bytes:
    """pytorch-test-infra windows: drop ``#=SOURCE=#`` lines, ``#=MATCH=# `` prefixes and ``‹ ›``."""
    lines = [line for line in data.split(b"\n") if not line.startswith(b"#=SOURCE=#")]
    text = b"\n".join(lines).replace(b"#=MATCH=# ", b"")
    return text.replace("‹".encode(), b"").replace("›".encode(), b"")


def real_logs() -> Iterator[tuple[str, bytes]]:
    """Every log-like file: plain files, the text members of zips, and .zip files that are text."""
    if not REALDATA.is_dir():
        return
    for path in sorted(REALDATA.rglob("*")):
        if not path.is_file() or path.name in NOT_LOGS or path.suffix == ".json":
            continue
        name = str(path.relative_to(REALDATA))
        data = path.read_bytes()
        if data.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.namelist():
                    if member.endswith(".txt"):
                        yield f"{name}!{member}", archive.read(member)
        else:
            if "pytorch-test-infra" in name:
                data = strip_pytorch_markers(data)
            yield name, data


def dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def api_steps(job: dict[str, object]) -> list[StepInfo]:
    steps = job["steps"]
    assert isinstance(steps, list)
    return [
        StepInfo(s["number"], s["name"], s["status"], s["conclusion"], dt(s["started_at"]), dt(s["completed_at"]))
        for s in steps
    ]


LOGS = list(real_logs())


@pytest.mark.parametrize(("name", "data"), LOGS, ids=[n for n, _ in LOGS])
def test_every_real_log_parses_or_is_refused(name: str, data: bytes) -> None:
    """Each real file parses into consistent spans or raises LogParseError, never anything else."""
    try:
        parsed = parse_job_log(data)
    except LogParseError as exc:
        assert exc.message
        return
    assert_consistent(parsed)


def assert_consistent(parsed: ParsedLog) -> None:
    lines = [s for s in parsed.steps if s.first_line]
    assert [(s.first_line, s.last_line) for s in lines] == sorted((s.first_line, s.last_line) for s in lines)
    for a, b in itertools.pairwise(lines):
        assert a.last_line < b.first_line
    assert all(1 <= s.first_line <= s.last_line <= parsed.line_count for s in lines)
    assert all(1 <= sig.line <= parsed.line_count for sig in parsed.signals)
    assert all(0 <= p.line <= parsed.line_count and p.duration_s >= 0 for p in parsed.phases)


def test_real_logs_were_found() -> None:
    """The real-data walk finds the shared corpus (well over a hundred logs)."""
    assert len(LOGS) > 100


def test_the_only_refusals_are_non_logs() -> None:
    """Only the kubernaut excerpts (no timestamps), cli-cli's made-up zip and a 404 body are refused."""
    refused = set()
    for name, data in LOGS:
        try:
            parse_job_log(data)
        except LogParseError:
            refused.add(name.split("/")[0])
    assert refused <= {"kubernaut-docs", "cli-cli", "raw-joblogs-api", "extracted-runlog-juicessh-2019", "pygithub"}


def date_night_jobs() -> list[tuple[str, Path, dict[str, object]]]:
    """(job folder, its logs.txt, its entry in the run's jobs.json)."""
    out = []
    for meta in sorted((REALDATA / "date-night-app2").glob("*/*/*/job-metadata.json")):
        name = json.loads(meta.read_text())["name"]
        jobs = json.loads((meta.parent.parent / "jobs.json").read_text())["jobs"]
        out.append((meta.parent.name, meta.parent / "logs.txt", next(j for j in jobs if j["name"] == name)))
    return out


@pytest.mark.parametrize(("name", "log", "job"), date_night_jobs(), ids=[j[0] for j in date_night_jobs()])
def test_date_night_step_durations_agree_with_the_api(name: str, log: Path, job: dict[str, object]) -> None:
    """date-night-app2: log-derived step durations agree with jobs.json's step times within 1 s."""
    steps = api_steps(job)
    parsed = parse_job_log(log.read_bytes(), steps=steps, job_name=str(job["name"]))
    assert [s.number for s in parsed.steps] == [s.number for s in steps]
    for span, api in zip(parsed.steps, steps, strict=True):
        assert api.started_at is not None and api.completed_at is not None and span.duration_s is not None
        assert abs(span.duration_s - (api.completed_at - api.started_at).total_seconds()) <= 1.0, span
    assert parsed.job_name == job["name"]
    assert parsed.conclusion == job["conclusion"]


def test_date_night_jobs_json_matches_the_job_files() -> None:
    """The run's jobs.json lists the same steps as each job's own metadata (the API join works)."""
    for jobs_json in (REALDATA / "date-night-app2").glob("*/*/jobs.json"):
        by_name = {j["name"]: j for j in json.loads(jobs_json.read_text())["jobs"]}
        for meta in jobs_json.parent.glob("*/job-metadata.json"):
            job = json.loads(meta.read_text())
            assert api_steps(by_name[job["name"]]) == api_steps(job)


def test_date_night_failing_step_holds_the_error() -> None:
    """The failing unit-test step holds the exit-code error line."""
    log = next(p for n, p, _ in date_night_jobs() if n.startswith("test"))
    job = next(j for n, _, j in date_night_jobs() if n.startswith("test"))
    parsed = parse_job_log(log.read_bytes(), steps=api_steps(job))
    assert [(s.kind, s.line, s.step_number, s.step) for s in parsed.signals] == [("failure", 1307, 5, "Run unit tests")]


def test_medimages_ends_with_a_lost_runner() -> None:
    """medimages-jl: the tail of a log ending in a runner shutdown, then a cancellation."""
    parsed = parse_job_log((REALDATA / "medimages-jl" / "logs.md").read_bytes())
    kinds = [s.kind for s in parsed.signals]
    assert kinds[-2:] == ["runner_lost", "cancelled"]
    assert parsed.signals[-2].evidence.startswith("##[error]The runner has received a shutdown signal.")
    assert parsed.conclusion == "cancelled"


def test_pytorch_cancellation_windows() -> None:
    """pytorch windows (markers stripped): a cancel and a runner shutdown are found on the MATCH lines."""
    root = REALDATA / "pytorch-test-infra"
    cancelled = parse_job_log(strip_pytorch_markers((root / "gha_operation_canceled.txt").read_bytes()))
    lost = parse_job_log(strip_pytorch_markers((root / "gha_cancellation_shutdown.txt").read_bytes()))
    assert [(s.kind, s.line) for s in cancelled.signals] == [("cancelled", 31)]
    assert (lost.signals[0].kind, lost.signals[0].line) == ("runner_lost", 15)


def test_old_format_log_splits_into_sections_and_steps() -> None:
    """A 2019 log (CRLF, ##[section]) splits into the runner request, set-up and run steps."""
    parsed = parse_job_log(
        (REALDATA / "extracted-runlog-juicessh-2019" / "run-root" / "1_build (8.x).txt").read_bytes()
    )
    names = [s.name for s in parsed.steps]
    assert names[:3] == ["Request a runner to run this job", "Set up job", "Run actions/checkout@v1"]
    assert names[-1] == "Complete job"
    assert parsed.conclusion == "failure"


def zip_jobs() -> Iterator[tuple[str, bytes, list[tuple[int, str, bytes]]]]:
    for path in sorted((REALDATA / "runlog-zips").rglob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            for top in (n for n in names if "/" not in n and n.endswith(".txt")):
                job = top.split("_", 1)[1].removesuffix(".txt")
                parts = []
                for member in names:
                    folder, _, file = member.partition("/")
                    if folder == job and file[:1].isdigit():
                        number, _, step = file.removesuffix(".txt").partition("_")
                        parts.append((int(number), step, archive.read(member)))
                yield f"{path.name}!{job}", archive.read(top), parts


@pytest.mark.parametrize(("name", "whole", "parts"), list(zip_jobs()), ids=[z[0] for z in zip_jobs()])
def test_step_files_parse_like_the_job_log(name: str, whole: bytes, parts: list[tuple[int, str, bytes]]) -> None:
    """A zip's per-step files give the job log's line count and signal lines; each file is one step."""
    from_parts = parse_step_logs(parts)
    from_whole = parse_job_log(whole)
    assert from_parts.line_count == from_whole.line_count
    assert [(s.kind, s.line) for s in from_parts.signals] == [(s.kind, s.line) for s in from_whole.signals]
    assert [s.number for s in from_parts.steps] == sorted(p[0] for p in parts)
    assert_consistent(from_parts)


def wrap(excerpt: str, step: str = "Run make test-e2e-workflowexecution", every: float = 2.0) -> str:
    """A timestamped job log around a timestamp-less console excerpt (one line every ``every`` s)."""
    t0 = datetime(2026, 1, 9, 8, 0, 0, tzinfo=UTC)

    def stamp(sec: float) -> str:
        t = t0 + timedelta(seconds=sec)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z"

    body = [line for line in excerpt.splitlines() if not line.startswith("# source:")]
    rows = [f"{stamp(0)} Current runner version: '2.330.0'", f"{stamp(1)} ##[group]{step}"]
    rows += [f"{stamp(10 + i * every)} {line}" for i, line in enumerate(body)]
    return "\n".join(rows) + "\n"


def excerpt(n: int) -> str:
    return (REALDATA / "kubernaut-docs" / f"log_excerpt_{n}.txt").read_text()


def test_kubernaut_excerpts_without_timestamps_are_refused() -> None:
    """The seed's console excerpts carry no runner timestamps: not a job log as they stand."""
    with pytest.raises(LogParseError):
        parse_job_log(excerpt(3))


def test_kubernaut_controller_timeout_excerpt() -> None:
    """Excerpt 2 (wrapped): Ginkgo's Eventually timed out after 180 s in the E2E step."""
    parsed = parse_job_log(wrap(excerpt(2)))
    assert [(s.kind, s.limit_s, s.step) for s in parsed.signals] == [
        ("test_timeout", 180.0, "Run make test-e2e-workflowexecution")
    ]


def test_kubernaut_pod_wait_timeout_excerpt() -> None:
    """Excerpt 3 (wrapped): both kubectl wait timeouts on the notification controller pod."""
    parsed = parse_job_log(wrap(excerpt(3)))
    assert [(s.kind, s.line) for s in parsed.signals] == [("tool_timeout", 5), ("tool_timeout", 23)]
    assert parsed.signals[0].evidence == (
        "error: timed out waiting for the condition on pods/notification-controller-77ccd99cdc-vc8h8"
    )


def test_kubernaut_suite_timeout_excerpt() -> None:
    """Excerpt 1 (wrapped): a 15-minute suite timeout censors the suite phase."""
    parsed = parse_job_log(wrap(excerpt(1)))
    assert [(s.kind, s.limit_s) for s in parsed.signals] == [("test_timeout", 900.0)]
    assert [(p.name, p.outcome, p.censored, p.limit_s, p.duration_s) for p in parsed.phases] == [
        ("ginkgo:suite", "timeout", True, 900.0, 15.0)
    ]


def test_kubernaut_suite_phases_excerpt() -> None:
    """Excerpt 12 (wrapped): the BeforeSuite and suite phases with their reported durations."""
    parsed = parse_job_log(wrap(excerpt(12)))
    assert [(p.name, p.duration_s, p.outcome) for p in parsed.phases] == [
        ("ginkgo:before-suite", 562.722, "success"),
        ("ginkgo:suite", 589.03, "success"),
    ]
    assert parsed.signals == ()


def test_date_night_step_boundaries_sit_on_the_step_markers() -> None:
    """e2e job: each step starts on its ``##[group]Run`` line, not on a line printed the same second before it."""
    log, job = next((p, j) for n, p, j in date_night_jobs() if n.startswith("e2e"))
    parsed = parse_job_log(log.read_bytes(), steps=api_steps(job))
    assert [(s.number, s.first_line, s.last_line) for s in parsed.steps] == [
        (1, 1, 53),
        (2, 54, 122),
        (3, 123, 148),
        (4, 149, 180),
        (5, 181, 6117),
        (6, 6118, 6131),
        (11, 0, 0),
        (12, 6132, 6143),
        (13, 6144, 6144),
    ]
