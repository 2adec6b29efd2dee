"""The export folder ``we-advisor ingest`` reads (the layout of ``data/sample/``), written from generated histories.

runs.json (the latest attempt of every run), attempts/ (earlier attempts), jobs/ (every attempt's
job in the REST shape, steps with their times), logs/*.txt.gz (minimal job logs: GitHub's
timestamps and ``##[group]`` markers, the real step-timeout / cancel / ``kubectl wait`` /
``Timed out after`` lines), annotations/ (job timeouts, cancels, step timeouts), workflow-files/
(the ``timeout-minutes`` in force *now*) and we-advisor.toml (one ``[[phases]]`` rule per history).
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.advice_histories import JOB, PREPARE_STEP, REPO, TESTS_STEP, TICK, Attempt, History, warmup_phase


def _stamp(t: int) -> str:
    sec, frac = divmod(t, TICK)
    return f"{datetime.fromtimestamp(sec, UTC):%Y-%m-%dT%H:%M:%S}.{frac:07d}Z"


def _api(t: int) -> str:
    return f"{datetime.fromtimestamp(t // TICK, UTC):%Y-%m-%dT%H:%M:%S}Z"


def _yaml_minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{round(seconds / 60)}"


def workflow_yaml(history: History) -> str:
    """The workflow file as it is *now* (the latest limits): what ``recommend`` reads as current."""
    spec, limits = history.spec, history.limits
    job_now, step_now, prepare_now = limits["job"][1], limits["step"][1], limits["prepare"][1]
    lines = [f"name: {spec.name}", "on:", "  push:", "    branches: [main]", "jobs:", f"  {JOB}:", "    runs-on: ubuntu-latest"]
    if spec.container:
        lines.append("    container: golang:1.23")
    if job_now is not None:
        lines.append(f"    timeout-minutes: {_yaml_minutes(job_now)}")
    lines += ["    steps:", "      - uses: actions/checkout@v4", f"      - name: {PREPARE_STEP}"]
    if prepare_now is not None:
        lines.append(f"        timeout-minutes: {_yaml_minutes(prepare_now)}")
    lines += ["        run: ./scripts/prepare.sh", f"      - name: {TESTS_STEP}"]
    if step_now is not None:
        lines.append(f"        timeout-minutes: {_yaml_minutes(step_now)}")
    lines.append("        run: make e2e")
    return "\n".join(lines) + "\n"


def config_toml(histories: Sequence[History], *, min_samples: int = 20) -> str:
    """we-advisor.toml: the repo and one ``[[phases]]`` rule (with its current ``timeout_s``) per history."""
    out = [f'repo = "{REPO}"', "quantile = 0.99", f"min_samples = {min_samples}", ""]
    for h in histories:
        if not h.spec.warmup:
            continue
        limit = h.limits["warmup"][1]
        out += [
            "[[phases]]",
            f'name = "{warmup_phase(h.spec)}"',
            f'step = "^{TESTS_STEP}$"',
            f"start = '^warmup {h.spec.slug} start'",
            f"end = '^warmup {h.spec.slug} done|Timed out after'",
            *([f"timeout_s = {limit:g}"] if limit is not None else []),
            "",
        ]
    return "\n".join(out)


def _log_bytes(attempt: Attempt) -> bytes:
    lines = [f"{_stamp(t)} {text}" for step in attempt.steps for t, text in step.lines]
    return ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8")


def _run_json(history: History, attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.run_id,
        "name": history.workflow,
        "path": f".github/workflows/{history.spec.slug}.yml",
        "run_attempt": attempt.number,
        "run_number": attempt.run_index + 1,
        "event": "push",
        "head_branch": "main",
        "head_sha": f"{attempt.run_id:040x}"[-40:],
        "status": "completed",
        "conclusion": attempt.conclusion,
        "created_at": _api(attempt.created),
        "run_started_at": _api(attempt.start - 2 * TICK),
        "updated_at": _api(attempt.end + 2 * TICK),
    }


def _job_json(history: History, attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.job_id,
        "run_id": attempt.run_id,
        "run_attempt": attempt.number,
        "workflow_name": history.workflow,
        "name": JOB,
        "status": "completed",
        "conclusion": attempt.conclusion,
        "created_at": _api(attempt.start - TICK),
        "started_at": _api(attempt.start),
        "completed_at": _api(attempt.end),
        "labels": ["ubuntu-latest"],
        "runner_name": f"GitHub Actions {1000 + attempt.job_id % 97}",
        "steps": [
            {"name": s.name, "number": s.number, "status": "completed", "conclusion": s.conclusion,
             "started_at": _api(s.start), "completed_at": _api(s.end)}
            for s in attempt.steps
        ],
    }


def write_export(histories: Sequence[History], folder: Path, *, min_samples: int = 20) -> dict[str, int]:
    """Write the histories as one export folder (replacing ``folder``); returns counts of what was written."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "jobs").mkdir(parents=True)
    for sub in ("attempts", "logs", "annotations", "workflow-files/.github/workflows"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    # ids grow with time, as GitHub's do
    by_run: dict[tuple[int, int], list[Attempt]] = {}
    for h_index, h in enumerate(histories):
        for a in h.attempts:
            by_run.setdefault((h_index, a.run_index), []).append(a)
    run_order = sorted(by_run, key=lambda key: (by_run[key][0].created, key))
    for n, key in enumerate(run_order):
        for a in by_run[key]:
            a.run_id = 30_000_000_000 + 1000 * n
    every = sorted((a for attempts in by_run.values() for a in attempts), key=lambda a: (a.start, a.run_id))
    for n, a in enumerate(every):
        a.job_id = 80_000_000_000 + 10 * n
    latest: list[dict[str, Any]] = []
    jobs = logs = 0
    for key in run_order:
        history = histories[key[0]]
        attempts = sorted(by_run[key], key=lambda a: a.number)
        latest.append(_run_json(history, attempts[-1]))
        run_id = attempts[0].run_id
        for a in attempts[:-1]:
            (folder / "attempts" / f"{run_id}-{a.number}.json").write_text(json.dumps(_run_json(history, a)), encoding="utf-8")
        listing = {"total_count": len(attempts), "jobs": [_job_json(history, a) for a in reversed(attempts)]}
        (folder / "jobs" / f"{run_id}.json").write_text(json.dumps(listing), encoding="utf-8")
        for a in attempts:
            jobs += 1
            (folder / "logs" / f"{a.job_id}.txt.gz").write_bytes(gzip.compress(_log_bytes(a), compresslevel=1, mtime=0))
            logs += 1
            if a.annotations:
                notes = [{"annotation_level": "failure", "message": m, "path": ".github", "start_line": 1, "title": ""}
                         for m in a.annotations]  # fmt: skip
                (folder / "annotations" / f"{a.job_id}.json").write_text(json.dumps(notes), encoding="utf-8")
    latest.reverse()  # newest first, as the API lists them
    (folder / "runs.json").write_text(json.dumps({"total_count": len(latest), "workflow_runs": latest}), encoding="utf-8")
    (folder / "repo.json").write_text(json.dumps({"full_name": REPO}), encoding="utf-8")
    for h in histories:
        (folder / "workflow-files" / ".github" / "workflows" / f"{h.spec.slug}.yml").write_text(workflow_yaml(h), encoding="utf-8")
    (folder / "we-advisor.toml").write_text(config_toml(histories, min_samples=min_samples), encoding="utf-8")
    return {"runs": len(latest), "jobs": jobs, "logs": logs}
