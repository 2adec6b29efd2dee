"""Failure signatures and flaky jobs for people: the report's view, the weekly comment's section, and
the ``failures`` command's table and Markdown.

Titles, templates, example lines, job and step names come from logs: untrusted. The terminal
table shows control characters as symbols (``formatting.render_table``), Markdown goes through
``text.md_text`` (inline) and ``text.md_code`` (blocks), HTML through the template's autoescape.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from analyzer.formatting import render_table, shorten, shorten_names
from analyzer.model.failures import FailureReport
from analyzer.model.reruns import RerunCount, RerunRate
from analyzer.present.text import md_code, md_text, pct, run_label

MAX_SIGNATURES = 10  # signature rows in the HTML report
MAX_FLAKY = 10  # flaky-job rows in the HTML report
MAX_RISING = 5  # new and growing signatures in the weekly comment
TREND_TEXT = {"new": "new this week", "growing": "growing", "fading": "fading", "steady": "steady", "unknown": "–"}


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else "–"


def _where(jobs: Mapping[str, int], steps: Mapping[str, int]) -> str:
    """The job (without its workflow) and step most of a signature's failures were in."""
    job = next(iter(jobs), "").split(" / ", 1)[-1]
    step = next(iter(steps), "")
    return " › ".join(x for x in (job, step) if x)


def window_text(report: FailureReport) -> str:
    """``2026-10-24 → 2026-11-23`` (or ``everything``)."""
    if report.since is None:
        return "everything in the store"
    return f"{_day(report.since)} → {_day(report.until)}"


def summary_line(report: FailureReport) -> str:
    """What ``failures`` found, for stderr (after the window line): the counts, what was left out."""
    flaky = len(report.flaky)
    line = (
        f"{report.failed} failed job attempt(s) in {len(report.signatures)} signature(s); "
        f"{flaky} job(s) passed on rerun"
    )
    if report.cancelled:
        line += f"; {report.cancelled} cancelled attempt(s) not counted as failures"
    return line


# -- the report's view ----------------------------------------------------------------------------


def failures_view(report: FailureReport | None, local: Mapping[int, str] | None = None) -> dict[str, Any]:
    """The report's "Top failure signatures" and "Flaky jobs" as plain data (None: not computed);
    ``local`` names locally ingested runs by their file."""
    if report is None:
        return {"available": False, "failed": 0, "cancelled": 0, "total": 0, "signatures": [], "hidden": 0,
                "rising": [], "flaky": [], "flaky_total": 0, "window": ""}  # fmt: skip
    rows = [_signature_row(s.to_dict(), s.first_seen, s.last_seen, local) for s in report.signatures]
    flaky = [_rerun_row(r) for r in report.flaky]
    return {
        "available": True,
        "failed": report.failed,
        "cancelled": report.cancelled,
        "total": len(rows),
        "signatures": rows[:MAX_SIGNATURES],
        "hidden": max(0, len(rows) - MAX_SIGNATURES),
        "rising": [r for r in rows if r["trend"] in ("new", "growing")],  # the comment shows MAX_RISING
        "flaky": flaky[:MAX_FLAKY],
        "flaky_total": len(flaky),
        "window": window_text(report),
    }


def _signature_row(
    data: Mapping[str, Any], first: datetime | None, last: datetime | None, local: Mapping[int, str] | None
) -> dict[str, Any]:
    return {
        "id": data["id"],
        "title": data["title"],
        "template": data["template"],
        "count": data["count"],
        "trend": data["trend"],
        "trend_text": TREND_TEXT.get(data["trend"], data["trend"]),
        "recent": data["recent"],
        "previous": data["previous"],
        "kinds": list(data["kinds"].items()),
        "jobs": list(data["jobs"].items()),
        "steps": list(data["steps"].items()),
        "where": _where(data["jobs"], data["steps"]),
        "first_seen": _day(first),
        "last_seen": _day(last),
        "examples": [
            {"run": run_label(e["run_id"], e["run_attempt"], local), "url": e["url"], "line": e["line"]}
            for e in data["examples"]
        ],
    }


def _rerun_row(rate: RerunRate) -> dict[str, Any]:
    f, t = rate.failures, rate.timeouts
    return {
        "workflow": rate.workflow,
        "job": rate.job,
        "failed": f.failed_attempts,
        "reruns": f.reruns,
        "passed": f.passed_on_rerun,
        "rate": f.rate,
        "ci": list(f.rate_ci) if f.rate_ci else [None, None],
        "timeouts": t.failed_attempts,
        "timeouts_reruns": t.reruns,
        "timeouts_passed": t.passed_on_rerun,
    }


# -- the weekly comment ---------------------------------------------------------------------------


def md_failures_section(view: Mapping[str, Any], n: int) -> list[str]:
    """New and growing signatures (at most five, fewer when ``n`` is smaller) and the flaky jobs."""
    if not view["available"] or not (view["total"] or view["flaky"]):
        return []
    lines = ["### New and growing failures", ""]
    rising = view["rising"][: max(1, min(n, MAX_RISING))]
    if rising:
        lines += ["| failure | last 7 days (7 before) | trend | where | first seen |", "| --- | ---: | --- | --- | --- |"]
        for r in rising:
            lines.append(
                f"| {md_text(r['title'], 120)} | {r['recent']} ({r['previous']}) | {r['trend_text']} | "
                f"{md_text(r['where'], 60)} | {r['first_seen']} |"
            )
        if len(view["rising"]) > len(rising):
            lines.append(f"| _… {len(view['rising']) - len(rising)} more in the HTML report_ | | | | |")
    else:
        lines.append(f"No new or growing failure signatures: {view['failed']} failed job attempts in {view['total']} known ones.")
    flaky = view["flaky"][: max(1, min(n, MAX_RISING))]
    if flaky:
        jobs = "; ".join(f"{md_text(r['job'], 60)} {r['passed']} of {r['reruns']} ({pct(r['rate'])})" for r in flaky)
        more = f"; … {view['flaky_total'] - len(flaky)} more" if view["flaky_total"] > len(flaky) else ""
        lines += ["", f"Flaky jobs (a failed attempt passed when rerun): {jobs}{more}."]
    return [*lines, ""]


# -- the failures command --------------------------------------------------------------------------


def failures_table(report: FailureReport, local: Mapping[int, str] | None = None) -> str:
    """Signatures (with their newest example run), then the jobs' rerun rates, as terminal tables."""
    where = shorten_names([_where(s.jobs, s.steps) for s in report.signatures], 30)
    latest = [shorten(run_label(s.examples[0].run_id, s.examples[0].run_attempt, local), 24) if s.examples else "-"
              for s in report.signatures]  # fmt: skip
    rows = [
        [s.id, s.count, TREND_TEXT.get(s.trend, s.trend), _pairs(s.kinds, 24), place, _day(s.first_seen),
         _day(s.last_seen), run, shorten(s.title, 80)]
        for s, place, run in zip(report.signatures, where, latest, strict=True)
    ]  # fmt: skip
    out = [f"Failure signatures, {window_text(report)} (most frequent first)"]
    headers = ["id", "n", "trend", "kinds", "where", "first seen", "last seen", "latest run", "title"]
    out.append(render_table(headers, rows, right=[1]))
    out += ["", "Reruns: failed (or timed-out) attempts whose next attempt of the same job passed"]
    flows, jobs = shorten_names([r.workflow for r in report.reruns], 24), shorten_names([r.job for r in report.reruns], 24)
    reruns = [
        [flow, job, *_rerun_cells(r.failures), _timeout_cell(r.timeouts)]
        for r, flow, job in zip(report.reruns, flows, jobs, strict=True)
    ]
    out.append(render_table(["workflow", "job", "failed", "rerun", "passed", "rate (95% CI)", "timeouts passed"], reruns, right=[2, 3, 4]))
    return "\n".join(out) + "\n"


def _pairs(counts: Mapping[str, int], width: int) -> str:
    return shorten(", ".join(f"{k} {v}" for k, v in counts.items()), width)


def _rate(count: RerunCount) -> str:
    if count.rate is None or count.rate_ci is None:
        return "-"
    return f"{pct(count.rate)} ({pct(count.rate_ci[0])}–{pct(count.rate_ci[1])})"


def _rerun_cells(count: RerunCount) -> list[Any]:
    return [count.failed_attempts, count.reruns, count.passed_on_rerun, _rate(count)]


def _timeout_cell(count: RerunCount) -> str:
    return f"{count.passed_on_rerun} of {count.reruns}" if count.failed_attempts else "-"


def failures_markdown(report: FailureReport, local: Mapping[int, str] | None = None) -> str:
    """Every signature (its template in a code block, examples linked) and every job's rerun rate."""
    lines = [f"## Failure signatures ({window_text(report)})", ""]
    if not report.signatures:
        lines.append("No failed job attempts in the window.")
    else:
        lines += ["| signature | failures | trend | kinds | where | first seen | last seen |",
                  "| --- | ---: | --- | --- | --- | --- | --- |"]  # fmt: skip
        for s in report.signatures:
            kinds = ", ".join(f"{k} {v}" for k, v in s.kinds.items())
            lines.append(
                f"| `{s.id}` {md_text(s.title, 120)} | {s.count} | {TREND_TEXT.get(s.trend, s.trend)} | {kinds} | "
                f"{md_text(_where(s.jobs, s.steps), 60)} | {_day(s.first_seen)} | {_day(s.last_seen)} |"
            )
        for s in report.signatures:
            examples = ", ".join(
                f"[{e.run_id}#{e.run_attempt}]({e.url})" if e.url else md_text(run_label(e.run_id, e.run_attempt, local))
                for e in s.examples
            )
            lines += ["", f"<details><summary><code>{s.id}</code>: {s.count} × {md_text(s.title, 120)}</summary>", ""]
            lines += [md_code(s.template), "", f"Examples: {examples}", "", "</details>"]
    lines += ["", "## Reruns", ""]
    if not report.reruns:
        lines.append("No job had a failed attempt in the window.")
    else:
        lines += ["| workflow | job | failed | rerun | passed on rerun | rate (95 % CI) | timeouts passed on rerun |",
                  "| --- | --- | ---: | ---: | ---: | --- | --- |"]  # fmt: skip
        for r in report.reruns:
            failed, reruns, passed, rate = _rerun_cells(r.failures)
            lines.append(
                f"| {md_text(r.workflow, 60)} | {md_text(r.job, 60)} | {failed} | {reruns} | {passed} | {rate} | "
                f"{_timeout_cell(r.timeouts)} |"
            )
    return "\n".join(lines) + "\n"
