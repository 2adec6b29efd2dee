"""The weekly report as compact Markdown, the body of the pull-request comment.

Every log-derived string is neutralized by ``text.md_text`` (no pings, references, links or
markup from log text). Sections are added in priority order and shortened to fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from analyzer.present.failures import md_failures_section
from analyzer.present.text import dur, md_text, mermaid_text

MARKER = "<!-- we-advisor:weekly-report -->"  # a hidden HTML comment that finds the report comment again
MARKDOWN_TARGET = 6_000
GITHUB_COMMENT_LIMIT = 65_536


def render_markdown(context: Mapping[str, Any], *, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The weekly report as compact Markdown: changes first, then actions, then details.

    Sections are added in priority order; one that does not fit in ``limit`` is shortened (fewer
    rows) or replaced by a one-line note, never cut in the middle of a table, block or fence.
    """
    head = [
        MARKER,
        f"## {md_text(context['title'])}",
        "",
        f"Week {context['period']}{_md_filters(context)} · {context['summary']['runs']} job runs · "
        f"{context['summary']['incidents']} incidents ({context['summary']['timeouts']} timeouts)"
        + (f" · p95 wait for a runner {dur(context['summary']['queue_p95'])}" if context["queue"]["pools"] else ""),
        "",
        f"<sub>Limits judged on {context['windows']['model']}.</sub>",
        "",
    ]
    foot = ["", f"<sub>Generated {context['generated_at']} by we-advisor {context['version']}. "
            "The full report (charts, every unit) is the HTML artifact of this workflow run.</sub>", ""]
    sections: list[Callable[[int], list[str]]] = [
        lambda n: _md_changes(context, n),
        lambda n: _md_actions(context, n),
        lambda n: _md_recommendations(context, n),
        lambda n: md_failures_section(context["failures"], n),
        lambda n: _md_incidents(context, n),
        lambda n: _md_queue(context, n),
        lambda n: _md_gantt(context, n),
    ]
    budget_target = MARKDOWN_TARGET
    out = list(head)
    used = len("\n".join(head + foot))
    for render in sections:
        rows = 12
        while True:
            lines = render(rows)
            text = "\n".join(lines)
            soft_ok = used + len(text) <= budget_target or rows <= 3
            if used + len(text) + 1 <= limit - 200 and soft_ok:
                break
            if rows <= 1:
                lines = ["_(section left out to keep this comment short; see the HTML report)_", ""]
                break
            rows //= 2
        out += lines
        used += len("\n".join(lines)) + 1
    body = "\n".join(out + foot)
    if len(body) > limit:  # cannot happen with the budgets above; a last guard keeps the marker
        body = body[: limit - 80].rsplit("\n", 1)[0] + "\n\n_(truncated)_\n"
    return body


def _md_changes(context: Mapping[str, Any], n: int) -> list[str]:
    rows = context["changes"]
    lines = ["### Since last week", ""]
    if not rows:
        return [*lines, "No runs in this period.", ""]
    lines += [f"This week: {context['windows']['period']}; each row against the week before it.", ""]
    lines += ["| unit | p50 | p95 | change | stopped by a limit |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows[:n]:
        arrow = "🔺 " if r["worse"] else "🟢 " if r["better"] else ""
        if r["change"] is not None:
            change = f"{arrow}{r['change'] * 100:+.0f} %"
        else:
            change = "new" if not r["n_prev"] else "–"
        lines.append(
            f"| {md_text(r['label'], 60)} | {dur(r['p50'])} | {_md_was(r['p95'], r['p95_prev'])} | {change} | "
            f"{r['timeouts']} (was {r['timeouts_prev']}) |"
        )
    if len(rows) > n:
        lines.append(f"| _… {len(rows) - n} more in the HTML report_ | | | | |")
    return [*lines, ""]


def _md_was(now: float | None, was: float | None) -> str:
    return dur(now) if was is None else f"{dur(now)} (was {dur(was)})"


def _md_actions(context: Mapping[str, Any], n: int) -> list[str]:
    actions = context["actions"]
    lines = ["### Act on these", ""]
    model = context["windows"]["model"]
    if not context["judged"]:
        return [*lines, f"Nothing could be judged yet: no unit has enough runs in the model's window ({model}).", ""]
    if not actions:
        return [*lines, f"Nothing to change: every limit that can be set fits its measured durations ({context['judged']} "
                        f"units judged on {model}).", ""]  # fmt: skip
    lines += [f"Judged on {model}; kill rates are the estimated share of healthy runs stopped (90 % interval).", ""]
    for a in actions[: max(1, min(n, 5))]:
        lines.append(
            f"- **{md_text(a['name'], 80)}**: {md_text(a['text'])} → **{md_text(a['to'])}** (then {md_text(a['then'])})"
            + (f" · set in {md_text(a['where'])}" if a["where"] else "")
        )
    for h in context["hangs"][:3]:
        lines.append(f"- **{md_text(h['name'], 80)}**: {md_text(h['text'])}")
    return [*lines, ""]


def _md_recommendations(context: Mapping[str, Any], n: int) -> list[str]:
    rows = [r for r in context["recommendations"] if r["verdict"] != "ok"]
    ok = len(context["recommendations"]) - len(rows)
    few = sum(1 for r in rows if r["verdict"] == "insufficient_data")
    unsettable = sum(1 for r in rows if r["verdict"] == "not_settable")
    new = sum(1 for r in rows if r["verdict"] == "no_timeout")
    counted = f"{len(rows) - few - unsettable - new} to change"
    counted += f", {new} without a limit of {'its' if new == 1 else 'their'} own" if new else ""
    counted += f", {ok} ok" + (f", {unsettable} measured only (no limit can be set)" if unsettable else "")
    counted += f", {few} with too few runs to judge" if few else ""
    lines = [
        f"<details><summary>Recommendations ({counted}; model: {context['windows']['model']})</summary>",
        "",
        "| unit | runs (censored) | p99 | current | recommended | verdict | killed now → then (90 % interval) |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in rows[:n]:
        recommended = dur(r["recommended"]) + (" (re-measure)" if r["remeasure"] else "")
        lines.append(
            f"| {md_text(r['label'], 60)} | {r['samples']} ({r['censored']}) | {dur(r['p99'])} | {dur(r['current'])} | "
            f"{recommended} | {r['verdict_text']} | {r['killed_now']} → {r['killed_then']} |"
        )
    if len(rows) > n:
        lines.append(f"| _… {len(rows) - n} more in the HTML report_ | | | | | | |")
    return [*lines, "", "</details>", ""]


def _md_incidents(context: Mapping[str, Any], n: int) -> list[str]:
    view = context["incidents"]
    if not view["total"]:
        return []
    kinds = ", ".join(f"{k} {v}" for k, v in view["kinds"])
    lines = [f"<details><summary>Incidents this week: {view['total']} ({kinds}; {context['windows']['period']})</summary>", ""]
    for r in view["rows"][:n]:
        where = " › ".join(x for x in (r["job"], r["where"]) if x)
        kind = r["kind"] + (f" ({r['ended_by']}, silent {dur(r['silence'])})" if r["ended_by"] else "")
        last = "last line before the silence: " if r["kind"] == "hang" else ""
        lines.append(
            f"- {r['when']} run {r['run']} **{kind}** {md_text(where, 80)}: {last}{md_text(r['evidence'], 160)}"
            + _md_context(r["context"])
        )
    if view["total"] > n:
        lines.append(f"- _… {view['total'] - n} more in the HTML report_")
    return [*lines, "", "</details>", ""]


def _md_filters(context: Mapping[str, Any]) -> str:
    return f" · only runs with {md_text(context['filters'])}" if context.get("filters") else ""


def _md_context(c: Mapping[str, Any]) -> str:
    """`` (main, push, by alice, abc1234, runner X)``: what is known of an incident's run context."""
    parts = [
        md_text(c["branch"], 60) if c["branch"] else None,
        md_text(c["event"], 30) if c["event"] else None,
        f"by {md_text(c['actor'], 60)}" if c["actor"] else None,
        c["sha"] if c["sha"] and c["sha"].isalnum() else None,
        f"runner {md_text(c['runner'], 60)}" if c["runner"] else None,
    ]
    shown = [p for p in parts if p]
    return f" ({', '.join(shown)})" if shown else ""


def _md_queue(context: Mapping[str, Any], n: int) -> list[str]:
    view = context["queue"]
    if not view["pools"]:
        return []
    lines = [
        f"<details><summary>Waiting for a runner: p95 {dur(view['p95'])} this week"
        + (f", {view['not_started']} job runs never started" if view["not_started"] else "")
        + "</summary>",
        "",
        "| runner labels | job runs | p50 | p95 | longest | never started |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in view["pools"][:n]:
        mark = "🔺 " if p["worse"] else ""
        lines.append(
            f"| {mark}{md_text(p['label'], 60)} | {p['n']} (was {p['n_prev']}) | {_md_was(p['p50'], p['p50_prev'])} | "
            f"{_md_was(p['p95'], p['p95_prev'])} | {dur(p['max'])} | {p['not_started']} |"
        )
    if len(view["pools"]) > n:
        lines.append(f"| _… {len(view['pools']) - n} more in the HTML report_ | | | | | |")
    return [*lines, "", "</details>", ""]


def _md_gantt(context: Mapping[str, Any], n: int) -> list[str]:
    gantts = context["gantts"][: max(1, n // 6)]
    if not gantts:
        return []
    lines = [f"<details><summary>A typical run of each job (critical path in red; {context['windows']['history']})</summary>", ""]
    for g in gantts:
        lines += [
            "```mermaid",
            "gantt",
            f"    title {mermaid_text(g['job'])} - median run {dur(g['duration'])}",
            "    dateFormat X",
            "    axisFormat %M:%S" if g["duration"] < 3600 else "    axisFormat %H:%M",
        ]
        for i, item in enumerate(it for it in g["items"] if it["scope"] == "step"):
            if i >= 3 * n:
                break
            start = int(item["start"])
            end = max(start + 1, round(item["start"] + item["duration"]))
            tag = "crit, " if item["critical"] else ""
            lines.append(f"    {mermaid_text(item['name'])} :{tag}s{i}, {start}, {end}")
        lines += ["```", ""]
    return [*lines, "</details>", ""]
