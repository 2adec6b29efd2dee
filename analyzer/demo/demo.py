"""``we-advisor demo``: where the bundled sample is, and the text the demo prints (``api.demo`` runs it)."""

from __future__ import annotations

import shlex
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from analyzer.advise import BacktestResult, RecommendResult
from analyzer.collect.ingest import IngestSummary
from analyzer.config import Settings, load_settings
from analyzer.errors import InputError
from analyzer.formatting import human_duration, render_table, shorten
from analyzer.model import UnitStats
from analyzer.model.failures import FailureReport
from analyzer.present.files import WrittenReport
from analyzer.present.tables import format_rate, names, share
from analyzer.present.text import window_phrase
from analyzer.records import Incident

REPO_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


@dataclass(frozen=True, slots=True)
class DemoResult:
    text: str
    ingest: IngestSummary
    stats: list[UnitStats]
    incidents: list[Incident]
    store_path: Path
    recommendations: RecommendResult | None = None


def sample_dir(scratch: Path) -> Path:
    """The bundled sample (data/sample in a checkout), else a fresh deterministic generation."""
    if (REPO_SAMPLE / "runs.json").is_file():
        return REPO_SAMPLE
    from analyzer.demo.sample import generate_sample

    out = scratch / "sample"
    generate_sample(out)
    return out


@contextmanager
def sample_workspace() -> Iterator[tuple[Path, Settings, Path]]:
    """The sample to run (``sample_dir``), its settings, and a scratch folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="we-advisor-demo-") as scratch:
        sample = sample_dir(Path(scratch))
        yield sample, _sample_settings(sample), Path(scratch)


def render_demo(
    settings: Settings,
    summary: IngestSummary,
    counts: dict[str, int],
    rows: list[UnitStats],
    found: list[Incident],
    recommended: RecommendResult,
    replay: BacktestResult | None,
    written: WrittenReport | None,
    *,
    next_step: str = "",
    failed: FailureReport | None = None,
) -> str:
    """The demo's text: what the store holds, the durations, the incidents, what keeps failing and what
    a rerun fixed, the limits to change (and ``next_step``, the command that shows them all), the
    backtest, and where the reports are."""
    text = _render(settings, summary, counts, rows, found)
    if failed is not None:
        text += _failure_lines(failed)
    text += _render_recommendations(recommended)
    if next_step:
        text += "\n" + next_step
    if replay is not None:
        text += _backtest_lines(replay)
    if written is not None:
        text += f"\n\nHTML report: {written.html}\nMarkdown report: {written.markdown}"
    return text


def _failure_lines(report: FailureReport, *, top: int = 5) -> str:
    """The most frequent failure signatures, and the jobs whose failed attempts passed when rerun."""
    rows = [[s.count, s.trend, shorten(s.title, 96)] for s in report.signatures[:top]]
    flaky = [
        f"{r.job} {r.failures.passed_on_rerun} of {r.failures.reruns} ({share(r.failures.rate)})"
        + (f", timeouts {r.timeouts.passed_on_rerun} of {r.timeouts.reruns}" if r.timeouts.reruns else "")
        for r in report.flaky
    ]
    out = [
        "",
        "",
        f"What keeps failing: {report.failed} failed job attempts in {len(report.signatures)} signatures (log excerpts",
        "clustered; numbers, ids and durations as placeholders), most frequent first",
        render_table(["n", "trend", "signature"], rows, right=(0,)) if rows else "  no failed job attempts",
        "Passed when rerun: " + ("; ".join(flaky) if flaky else "no failed attempt passed on a rerun"),
        "All signatures, their excerpts and rerun rates: we-advisor failures",
    ]
    return "\n".join(out)


def _render_recommendations(result: RecommendResult, *, top: int = 8) -> str:
    """The limits that should change, worst first: verdict, current and recommended, and their kill rates."""
    changing = [r for r in result.recommendations if r.verdict in ("too_tight", "too_loose") and r.settable]
    changing.sort(key=lambda r: (r.verdict != "too_tight", -(r.false_timeout_rate_current or 0.0), r.job, r.name))
    rows = [
        [
            r.verdict, job, name, f"{human_duration(r.current_timeout_s)} ({r.current_source})",
            human_duration(r.recommended_timeout_s) + (" (re-measure)" if r.remeasure else ""),
            format_rate(r.false_timeout_rate_current, r.rate_basis[0], r.rate_current_ci),
            format_rate(r.false_timeout_rate_recommended, r.rate_basis[1], r.rate_recommended_ci),
        ]
        for r, (job, name) in zip(changing[:top], names(changing[:top], ("job", 10), ("name", 30)), strict=True)
    ]
    q = f"{result.quantile * 100:g}"
    target = f"{100 - result.quantile * 100:g}"
    out = [
        "",
        "",
        f"Recommended limits (p{q}: at most {target} % of healthy runs stopped; 'killed' = estimated share of healthy runs",
        "the limit stops, censoring-aware, with its 90 % interval; a new limit is the smallest whose interval stays",
        f"within 1.5 × {target} %; model: {window_phrase(result.window_start, result.window_end, result.runs)})",
        render_table(["verdict", "job", "unit", "current", "recommended", "killed now", "killed then"], rows, right=(5, 6))
        if rows else "  every limit in force is within its band: nothing to change",
    ]
    verdicts = Counter(r.verdict for r in result.recommendations)
    out.append("Verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.most_common()))
    if result.layers:
        out.append(f"Timeout layers: {len(result.layers)} warning(s), e.g. {result.layers[0].message}")
    return "\n".join(out)


def next_command(store_path: Path | None, config: Path | None, window: str) -> str:
    """The command that shows every unit of the demo's store, as it works when typed: the store and the
    sample's settings named (a temporary store is gone once the demo ends: then keep one first)."""
    if store_path is None or config is None:
        keep = "we-advisor demo --store demo.db"
        return f"All units, notes and tail estimates: keep the store ({keep}), then: {_recommend_line(Path('demo.db'), Path('demo.toml'), window)}"
    return f"All units, notes and tail estimates: {_recommend_line(store_path, config, window)}"


def _recommend_line(store: Path, config: Path, window: str) -> str:
    return f"we-advisor recommend --store {shlex.quote(str(store))} --config {shlex.quote(str(config))} --since {window} --format markdown"


def keep_settings(sample: Path, store_path: Path) -> Path:
    """The sample's settings beside a kept demo store (``demo.db`` -> ``demo.toml``), for the commands after it."""
    config = store_path.with_suffix(".toml")
    if config == store_path:  # a store named *.toml: its settings beside it, not over it
        config = store_path.with_name(store_path.name + ".settings.toml")
    config.write_text((sample / "we-advisor.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return config


def _backtest_lines(result: BacktestResult) -> str:
    """Policies side by side when the history after a split is replayed (see ``we-advisor backtest``)."""
    rows = [
        [
            t.policy, share(t.est_kill_rate), f"{t.units_over_target}/{t.units}", share(t.worst_est_kill_rate),
            shorten(t.worst_unit.label() if t.worst_unit else "", 34),
            f"{t.runner_minutes_saved:.0f}", human_duration(t.median_slack_s),
        ]
        for t in result.totals
    ]
    headers = ["policy", "killed", f"units over {(1 - result.quantile) * 100:g}%", "worst unit", "", "min saved", "median slack"]
    table = render_table(headers, rows, right=(1, 2, 3, 5, 6))
    return (
        f"\n\nBacktest: limits chosen on the runs before {result.split:%Y-%m-%d}, replayed on the {result.test_rows} "
        "observations after\n('killed' = censoring-aware share of runs stopped by the limit; min saved = runner minutes cut "
        "from timed-out runs)\n" + table
    )


def _sample_settings(sample: Path) -> Settings:
    config = sample / "we-advisor.toml"
    if not config.is_file():
        raise InputError(f"the sample at {sample} has no we-advisor.toml", hint="regenerate it: python scripts/generate_sample.py")
    return load_settings(config)


def _render(
    settings: Settings, summary: IngestSummary, counts: dict[str, int], rows: list[UnitStats], found: list[Incident]
) -> str:
    out = [
        f"we-advisor demo: bundled sample history of {settings.repo} (offline)",
        f"store: {counts['runs']} run attempts, {counts['jobs']} jobs, {counts['logs']} logs, "
        f"{counts['annotations']} annotations -> {counts['observations']} observations, {counts['incidents']} incidents",
        "",
        "Durations per unit (Kaplan-Meier percentiles; 'cens' = runs stopped by a limit or cancelled,",
        "counted as lasting at least that long; '-' = beyond what the data can tell)",
    ]
    shown = [r for r in rows if r.scope != "step" or not r.step or r.step.startswith("Run ")]
    table = [
        [
            r.scope, job, step if r.step else "", phase if r.phase else "", r.samples, r.censored,
            human_duration(r.p50_s), human_duration(r.p95_s), human_duration(r.p99_s),
        ]
        for r, (job, step, phase) in zip(shown, names(shown, ("job", 10), ("step", 26), ("phase", 28)), strict=True)
    ]
    out.append(render_table(["scope", "job", "step", "phase", "n", "cens", "p50", "p95", "p99"], table, right=range(4, 9)))
    waits = [
        f"{r.job} p50 {human_duration(r.queued_p50_s)}, p95 {human_duration(r.queued_p95_s)}"
        for r in rows
        if r.scope == "job" and r.queued_samples
    ]
    if waits:
        out += ["", "Waiting for a runner (job created → started): " + "; ".join(waits)]
    kinds = Counter(i.kind for i in found)
    out += ["", "Incidents by cause: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common())]
    seen: set[str] = set()
    for incident in found:
        if incident.kind in seen:
            continue
        seen.add(incident.kind)
        where = " / ".join(x for x in (incident.job, incident.step, incident.phase) if x)
        limit = f" (limit {human_duration(incident.limit_s)})" if incident.limit_s else ""
        out.append(f"  {incident.kind:<13} {where}{limit}: {shorten(incident.evidence, 90)}")
    return "\n".join(out)
