"""Failure signatures: quality against labelled sets, and speed/memory for 10,000 failed jobs.

    python benchmarks/failures_bench.py [--quick]      # prints the rows as JSON lines

Quality: adjusted Rand index of ``analyzer.model.signatures.cluster_excerpts`` against the labels of
(a) a generated history held out from tuning (seed 2; the library's threshold was chosen on seed 1),
(b) the hand-labelled real logs of tests/failure_labels.tsv (when ../shared/realdata exists; not
held out: the method was designed while looking at them), (c) 171 small generated histories, two
causes × three jobs each, one per pair of the 19 causes (seeds 500+, held out: the background
weight and threshold were chosen on seeds 100+), next to the baseline: exact match of the
normalized first error line of the same excerpts. Then through the real pipeline (ingest, the
store's excerpts, ``api.failures``): (d) the bundled sample, labelled from its raw files by what the
generator writes (``tests.failure_histories.sample_failures``), and (e) the real logs, ingested one
by one.

Speed: ``find_signatures`` over 10,000 generated failed jobs (2,000 with --quick), wall and CPU
time, median of 3 runs, beside the exact-match baseline timed in the same run; ``api.failures`` on
a store holding those 10,000 failed jobs and their excerpts (reading, clustering, rerun rates);
excerpt extraction (``parse.observe.failure_excerpt``) over the failed jobs' logs of the sample and
of realdata, beside the parser on the same logs; the peak RSS (VmHWM) of this fresh process,
target ≤ 500 MB.
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.metrics import adjusted_rand_score  # noqa: E402

from analyzer.model.signatures import baseline_labels, cluster_excerpts, find_signatures, signature_key  # noqa: E402
from benchmarks.rows import row  # noqa: E402
from tests.failure_histories import (  # noqa: E402
    CAUSES,
    LABELS,
    REALDATA,
    generated_failures,
    realdata_failures,
    sample_failures,
)

SECTION = "failures"
ROUNDS = 3
WALL_TARGET_S = 10.0
RSS_TARGET_MB = 500.0


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quality_rows() -> list[dict[str, Any]]:
    sets = [("generated, held out", generated_failures(seed=2))]
    real = realdata_failures()
    if real:
        sets.append(("real logs (tests/failure_labels.tsv)", real))
    rows = []
    for name, cases in sets:
        truth = [c.label for c in cases]
        method = adjusted_rand_score(truth, cluster_excerpts([c.excerpt for c in cases]))
        base = adjusted_rand_score(truth, baseline_labels([c.excerpt for c in cases]))
        metric = f"ARI, {name}: {len(cases)} jobs, {len(set(truth))} causes"
        rows.append(row(SECTION, metric, method, "ratio", baseline="exact normalized first error line",
                        baseline_value=base, target="> baseline", ok=method > base))  # fmt: skip
    return rows


def speed_rows(quick: bool) -> list[dict[str, Any]]:
    per_cause = (2_000 if quick else 10_000) // len(CAUSES) + 1
    cases = generated_failures(seed=5, runs_per_cause=per_cause)
    failures = [c.failure(job_id=k + 1) for k, c in enumerate(cases)]
    excerpts = [c.excerpt for c in cases]
    distinct = len({signature_key(e) for e in excerpts})
    walls, cpus, base_walls = [], [], []
    found = []
    for _ in range(ROUNDS):
        t0, c0 = time.perf_counter(), time.process_time()
        found = find_signatures(failures)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        t0 = time.perf_counter()
        baseline_labels(excerpts)
        base_walls.append(time.perf_counter() - t0)
    wall, cpu, base = statistics.median(walls), statistics.median(cpus), statistics.median(base_walls)
    truth = [c.label for c in cases]
    labels = cluster_excerpts(excerpts)
    n = len(failures)
    target = WALL_TARGET_S * n / 10_000
    return [
        row(SECTION, f"signatures for {n:,} failed jobs ({distinct:,} distinct excerpts): wall", wall, "s",
            baseline="exact-match baseline, same jobs", baseline_value=base, target=f"≤ {target:.0f} s", ok=wall <= target),
        row(SECTION, f"signatures for {n:,} failed jobs: CPU", cpu, "s"),
        row(SECTION, f"ARI at {n:,} jobs ({len(found)} signatures, {len(CAUSES)} causes)",
            adjusted_rand_score(truth, labels), "ratio", baseline="exact normalized first error line",
            baseline_value=adjusted_rand_score(truth, baseline_labels(excerpts)), target="> baseline",
            ok=adjusted_rand_score(truth, labels) > adjusted_rand_score(truth, baseline_labels(excerpts))),
    ]  # fmt: skip


SMALL_SEED = 500  # held out: the background weight and the threshold were chosen on seeds 100+


def small_history_rows(quick: bool) -> list[dict[str, Any]]:
    """Every pair of causes as its own history of 3 + 3 failed jobs (quick: every fourth pair)."""
    pairs = list(itertools.combinations(sorted(CAUSES), 2))[:: 4 if quick else 1]
    method, base = [], []
    for i, pair in enumerate(pairs):
        cases = generated_failures(seed=SMALL_SEED + i, runs_per_cause=3, causes=list(pair))
        truth = [c.label for c in cases]
        method.append(adjusted_rand_score(truth, cluster_excerpts([c.excerpt for c in cases])))
        base.append(adjusted_rand_score(truth, baseline_labels([c.excerpt for c in cases])))
    name = f"{len(pairs)} small histories (2 causes × 3 jobs, held out)"
    return [
        row(SECTION, f"mean ARI, {name}", statistics.mean(method), "ratio", baseline="exact normalized first error line",
            baseline_value=statistics.mean(base), target="> baseline", ok=statistics.mean(method) > statistics.mean(base)),
        row(SECTION, f"clustered without a mistake, {name}", sum(m == 1.0 for m in method), "count",
            baseline="exact normalized first error line", baseline_value=sum(b == 1.0 for b in base)),
    ]  # fmt: skip


def pipeline_rows() -> list[dict[str, Any]]:
    """The bundled sample and the real logs through ingest, the store and ``api.failures``."""
    from analyzer import api
    from analyzer.config import Settings
    from analyzer.demo.demo import REPO_SAMPLE
    from analyzer.errors import LogParseError
    from analyzer.parse.logs import check_log

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        if (REPO_SAMPLE / "runs.json").is_file():
            db = Path(scratch) / "demo.db"
            api.demo(db, reports_dir=None)
            with api.open_store(db) as store:
                from analyzer.config import load_settings

                report = api.failures(load_settings(REPO_SAMPLE / "we-advisor.toml"), store, since="60d")
                excerpts = store.load_excerpts()
            causes, _ = sample_failures(REPO_SAMPLE)
            rows.append(_pipeline_row("the bundled sample through ingest + failures", report, causes, excerpts))
        if REALDATA.is_dir():
            import csv

            labels: dict[int, str] = {}
            db = Path(scratch) / "real.db"
            with api.open_store(db, create=True) as store, LABELS.open(encoding="utf-8") as handle:
                for label in csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"):
                    try:
                        check_log((REALDATA / label["path"]).read_bytes())
                    except LogParseError:
                        continue  # a console excerpt pasted into a document, not a job log
                    before = set(store.job_ids())
                    api.ingest(Settings(), store, [REALDATA / label["path"]], repo="real/logs")
                    labels.update(dict.fromkeys(set(store.job_ids()) - before, label["label"]))
                report = api.failures(Settings(), store, since="2000-01-01")
                excerpts = store.load_excerpts()
            rows.append(_pipeline_row("real logs through ingest + failures (not held out)", report, labels, excerpts))
    return rows


def _pipeline_row(name: str, report: Any, labels: dict[int, str], excerpts: dict[int, Any]) -> dict[str, Any]:
    signature_of = {job: s.id for s in report.signatures for job in s.member_ids}
    jobs = sorted(j for j in signature_of if j in labels)
    truth = [labels[j] for j in jobs]
    method = adjusted_rand_score(truth, [signature_of[j] for j in jobs])
    base = adjusted_rand_score(truth, baseline_labels([excerpts[j] for j in jobs]))
    return row(SECTION, f"ARI, {name}: {len(jobs)} jobs, {len(set(truth))} causes", method, "ratio",
               baseline="exact normalized first error line", baseline_value=base, target="> baseline", ok=method > base)  # fmt: skip


def excerpt_rows() -> list[dict[str, Any]]:
    """Excerpt extraction over the failed jobs' stored logs (the sample's, and realdata's failing job
    logs), against parsing the same logs; median of 3 rounds, interleaved."""
    from analyzer import api
    from analyzer.config import Settings, load_settings
    from analyzer.demo.demo import REPO_SAMPLE
    from analyzer.errors import AdvisorError, LogParseError
    from analyzer.parse.logs import check_log
    from analyzer.parse.observe import failure_excerpt, find_cause, log_data, parse_parts

    work = []  # (job, parts, annotations, rules, data, cause)
    with tempfile.TemporaryDirectory() as scratch:
        sources = []
        if (REPO_SAMPLE / "runs.json").is_file():
            sources.append((load_settings(REPO_SAMPLE / "we-advisor.toml"), [REPO_SAMPLE]))
        if REALDATA.is_dir():
            logs = []
            for path in sorted(p for p in REALDATA.rglob("*") if p.is_file() and p.suffix in (".txt", ".log")):
                try:
                    check_log(path.read_bytes())
                except LogParseError:
                    continue
                logs.append(path)
            sources.append((Settings(), logs))
        for k, (settings, paths) in enumerate(sources):
            with api.open_store(Path(scratch) / f"{k}.db", create=True) as store:
                for path in paths:
                    try:
                        api.ingest(settings, store, [path], repo="bench/excerpts")
                    except AdvisorError:
                        continue  # a file ingest refuses is simply not in the corpus
                for incident in store.load_incidents():
                    job = store.load_job(incident.job_id)
                    parts, notes = store.load_log_parts(incident.job_id), store.load_annotations(incident.job_id)
                    data = log_data(parts)
                    if job is None or not data:
                        continue
                    parsed = parse_parts(parts, job, settings.phases)
                    cause = find_cause(job, parsed, notes)
                    if cause is not None:
                        work.append((job, parts, settings.phases, data, cause))
    size = sum(len(w[3]) for w in work)
    excerpt_s, parse_s = [], []
    for _ in range(ROUNDS):
        c0 = time.process_time()
        for _job, _parts, _rules, data, cause in work:
            failure_excerpt(data, cause)
        excerpt_s.append(time.process_time() - c0)
        c0 = time.process_time()
        for job, parts, rules, _data, _cause in work:
            parse_parts(parts, job, rules)
        parse_s.append(time.process_time() - c0)
    mb = size / 1e6
    excerpt, parse = statistics.median(excerpt_s), statistics.median(parse_s)
    return [
        row(SECTION, f"excerpt extraction, {len(work)} failed jobs' logs ({mb:.1f} MB), CPU", mb / excerpt, "MB/s",
            baseline="the parser on the same logs, CPU", baseline_value=mb / parse),
        row(SECTION, "excerpt extraction per failed job, CPU", 1000 * excerpt / max(1, len(work)), "ms"),
    ]  # fmt: skip


def store_rows(quick: bool) -> list[dict[str, Any]]:
    """``api.failures`` on a store of 10,000 failed jobs with their excerpts (quick: 2,000)."""
    from analyzer import api
    from analyzer.config import Settings
    from analyzer.parse.logs import PARSER_VERSION
    from analyzer.parse.observe import rules_fingerprint
    from analyzer.records import Incident, Job, Observation

    per_cause = (2_000 if quick else 10_000) // len(CAUSES) + 1
    cases = generated_failures(seed=5, runs_per_cause=per_cause)
    with tempfile.TemporaryDirectory() as scratch:
        with api.open_store(Path(scratch) / "s.db", create=True) as store, store.transaction():
            for k, case in enumerate(cases, 1):
                at = case.at
                job = Job("bench/failures", k, k, 1, "CI", case.job, conclusion="failure", started_at=at - timedelta(minutes=5),
                          completed_at=at)  # fmt: skip
                store.save_job(job)
                seen = Observation.of_job(job, "job", started_at=job.started_at, duration_s=300.0, outcome="failure", censored=False)
                incident = Incident.of_job(job, case.kind, case.excerpt.lines[-1].text if case.excerpt.lines else "", step=case.step,
                                           occurred_at=at)  # fmt: skip
                store.save_analysis(k, [seen], incident, excerpt=case.excerpt, parser_version=PARSER_VERSION,
                                    rules_hash=rules_fingerprint(()))  # fmt: skip
        walls, cpus = [], []
        found = None
        for _ in range(ROUNDS):
            with api.open_store(Path(scratch) / "s.db") as store:
                t0, c0 = time.perf_counter(), time.process_time()
                found = api.failures(Settings(), store, since="2000-01-01")
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
    assert found is not None
    n = len(cases)
    target = WALL_TARGET_S * n / 10_000
    wall = statistics.median(walls)
    return [
        row(SECTION, f"failures command (api.failures) on a store of {n:,} failed jobs: wall", wall, "s",
            baseline=f"CPU time ({len(found.signatures)} signatures)", baseline_value=statistics.median(cpus),
            target=f"≤ {target:.0f} s", ok=wall <= target),
    ]  # fmt: skip


def run(quick: bool = False) -> list[dict[str, Any]]:
    rows = quality_rows() + small_history_rows(quick) + pipeline_rows() + speed_rows(quick) + store_rows(quick)
    rows += excerpt_rows()
    rss = peak_rss_mb()
    return [*rows, row(SECTION, "peak RSS of the section (VmHWM)", rss, "MB", target=f"≤ {RSS_TARGET_MB:.0f} MB", ok=rss <= RSS_TARGET_MB)]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(json.dumps(r, ensure_ascii=False))
