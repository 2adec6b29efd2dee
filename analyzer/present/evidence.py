"""The timeout check's pull-request comment: each changed limit beside the evidence on it.

One table row per measured unit a change limits: its runs, p50/p95/p99, the share of its runs the
old and the new value stop (with the data's interval), and the limit recommended with the new value
in force. Everything that came from the pull request (paths, the matched source text, job and step
names) is untrusted and goes through ``text.md_text``. The body starts with ``CHECK_MARKER``,
distinct from the weekly report's marker, so the two comments never replace each other.
"""

from __future__ import annotations

from analyzer.advise.check import PullCheck, UnitEvidence, WeighedChange
from analyzer.advise.policy import quantile_label
from analyzer.model.killrate import KillRate
from analyzer.present.markdown import GITHUB_COMMENT_LIMIT
from analyzer.present.text import dur, md_text, pct, unit_label

CHECK_MARKER = "<!-- we-advisor:timeout-check -->"  # finds the check's comment again; not the weekly report's
TITLE = "### Timeout changes in this pull request, against the measured durations"
MAX_ROWS = 40


def render_check(check: PullCheck, *, version: str) -> str:
    """The comment for a pull request that changes limits (``check.changes`` not empty)."""
    count = len(check.changes)
    start, end = check.window
    span = f"from {start:%Y-%m-%d} to {end:%Y-%m-%d}" if start is not None and end is not None else "in the store"
    lines = [
        CHECK_MARKER,
        TITLE,
        "",
        f"This pull request changes {count} limit{'s' if count != 1 else ''}. Evidence: {check.runs} job runs of "
        f"{md_text(check.repo)} {span}. A run stopped by a limit counts as lasting at least that long; "
        f"intervals are {pct(check.confidence)}; the target is at most {pct(1 - check.quantile)} of healthy runs "
        f"stopped (p{quantile_label(check.quantile)}).",
        "",
        "| change | unit | runs (stopped) | p50 | p95 | p99 | stops before | stops after | recommended |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = [row for change in check.changes for row in _rows(change)]
    lines += rows[:MAX_ROWS]
    if len(rows) > MAX_ROWS:
        lines.append(f"| _… {len(rows) - MAX_ROWS} more rows: run `we-advisor check --pr {check.pr} --dry-run`_ | | | | | | | | |")
    lines += [
        "",
        "<sub>\"stops\": the estimated share of runs that lasted longer than the limit (Kaplan–Meier; a parametric tail "
        "where few runs reached it), with the data's interval. \"recommended\": what `we-advisor recommend` says with "
        f"this pull request's values in force. Head {check.head_sha[:12]}, we-advisor {md_text(version)}.</sub>",
        "",
    ]
    body = "\n".join(lines)
    return body if len(body) <= GITHUB_COMMENT_LIMIT else body[: GITHUB_COMMENT_LIMIT - 40].rsplit("\n", 1)[0] + "\n\n_(truncated)_\n"


def render_no_changes(check: PullCheck) -> str:
    """What an earlier evidence comment becomes once the pull request no longer changes a limit."""
    return "\n".join([
        CHECK_MARKER,
        TITLE,
        "",
        f"This pull request no longer changes a timeout (as of {check.head_sha[:12]}): the evidence posted here "
        "earlier no longer applies.",
        "",
    ])  # fmt: skip


def _rows(weighed: WeighedChange) -> list[str]:
    change = weighed.change
    where = f"{change.path}:{change.line}" if change.line is not None else change.path
    what = f"{md_text(where, 80)} {md_text(change.where, 60)}: {md_text(change.before, 60)} → {md_text(change.after, 60)}"
    if not weighed.units:
        return [f"| {what} | _no unit in the window is limited by this_ | | | | | | | |"]
    per_unit = "${{" in change.before + change.after  # an expression: each unit's own values
    return [f"| {what if i == 0 else ''} | {_unit(u, per_unit)} | {_measured(u)} |" for i, u in enumerate(weighed.units)]


def _unit(u: UnitEvidence, values: bool) -> str:
    label = md_text(unit_label(u.key), 70)
    return f"{label} ({dur(u.before_s)} → {dur(u.after_s)})" if values else label


def _measured(u: UnitEvidence) -> str:
    if u.verdict is None:
        return " | ".join(["_no runs in the window_", "", "", "", "", "", ""])
    cells = [
        f"{u.samples} ({u.censored})", dur(u.p50_s), dur(u.p95_s), dur(u.p99_s),
        _stops(u.stops_before, u.before_s), _stops(u.stops_after, u.after_s), _recommended(u),
    ]  # fmt: skip
    return " | ".join(cells)


def _stops(rate: KillRate | None, limit: float | None) -> str:
    if limit is None:
        return "– (no limit)"
    if rate is None:
        return "–"
    interval = f"{pct(rate.low)}–{pct(rate.high)}"
    if rate.basis.startswith("tail:"):
        return f"{pct(rate.rate)} ({rate.basis.removeprefix('tail:')} tail estimate; {interval})"
    return f"{pct(rate.rate)} ({interval})"


def _recommended(u: UnitEvidence) -> str:
    """The verdict on the new value and the limit to set; beside an ``ok``, what the data alone ask for."""
    alone = f" (the data alone: {dur(u.evidence_s)})" if u.evidence_s is not None and u.evidence_s != u.after_s else ""
    if u.verdict == "ok":
        return f"**ok**: {dur(u.after_s)} fits{alone}"
    if u.verdict in ("too_tight", "too_loose"):
        return f"**{u.verdict.replace('_', ' ')}**: {dur(u.recommended_s)}"
    if u.verdict == "no_timeout":
        return f"no limit of its own; {dur(u.recommended_s)} would do"
    return f"too few runs to judge ({u.samples})"
