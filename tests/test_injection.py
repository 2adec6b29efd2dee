"""Hostile names and log lines through the real pipeline stay inert in every report.

Workflow, job and step names, ``##[group]Run`` markers, go test phase names, ``##[error]`` and
timeout lines, check-run annotations and the run context (commit message, branch, actor, runner
name and labels) carry script tags, event handlers, ``javascript:`` and
external links, Markdown images, @mentions, issue references, an HTML comment that could close
the hidden marker, ``</details>``, backticks, ``|``, ``$…$``, a terminal escape sequence, CRLFs
and a step named like a mermaid statement. They go in through ``we-advisor ingest`` (an export
folder from ``fake_github.build_export`` made hostile, and two bare job logs) and come out of
``we-advisor report`` (the HTML in headless Chromium, with and without its CSP; ``--markdown``)
and ``we-advisor comment`` (the body the GitHub stand-in receives, and ``--dry-run``). Every check
also finds the payloads as text: a report that dropped them instead of escaping them fails too.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from test_comment import run_cli

from analyzer.parse.failures import normalize_line
from analyzer.present.markdown import MARKER
from tests.browser import needs_chromium, open_page
from tests.fake_github import COMMENT_PR, EMPTY_REPO, TOKEN, FakeGitHub, build_export

REPO = EMPTY_REPO

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
SVG = '"><svg onload="window.__pwned=1">'
ANCHOR = '<a href="javascript:window.__pwned=1">js</a>'
JS_LINK = "[click](javascript:alert(1))"
EVIL_LINK = "[x](https://evil.example)"
EVIL_IMAGE = "![x](https://evil.example/a.png)"
MENTIONS = "@octocat @org/team"

WORKFLOWS = {"CI": f"CI {SCRIPT} {MENTIONS}", "E2E": f"E2E {SVG} | {JS_LINK} www.evil.example"}
JOBS = {  # each short enough to be shown whole in the Markdown's tables
    "test (0)": f"unit {IMG} | @octocat",
    "test (1)": f"lint {MARKER} --> a\\|b",
    "test (2)": "e2e </details> ```x``` `y` \x1b]0;pwned\x07" + EVIL_LINK,  # and a terminal title
}
STEPS = {f"Run make test-{k}": f"Run make-{k} {ANCHOR} @org/team\r\n{EVIL_IMAGE}" for k in range(3)}
STEPS["Run actions/checkout@v4"] = CHECKOUT = "click s1 call alert(1)"  # a mermaid statement if left as it is
ERROR = f"boom {IMG} {EVIL_IMAGE} {JS_LINK} #12 GH-12 {MENTIONS} $x^2$"  # replaces the exit-code error line of failed jobs
ANNOTATION = f"{SVG} {JS_LINK} <!-- The job has exceeded the maximum execution time of 30m0s"
GO_TEST = "go-test:TestX<b>&amp;@octocat"  # a `--- PASS:` line names it: no space or "/" fits in
GO_PKG = "go-pkg:pkg/<svg/onload=window.__pwned=1>"
BARE_WORKFLOW = f"local {SCRIPT}"
BARE_JOB = f"bare {IMG} @octocat"
BARE_STEP = f"Run {SCRIPT} ./hack/{EVIL_LINK}"  # a step named by its ##[group]Run marker only
STEP_TIMEOUT = f"The action 'Run {ANCHOR}' has timed out after 5 minutes."
# The run context is user text too: a commit message, a branch name, a login, a runner's name and labels.
COMMIT = f"{SCRIPT} {MENTIONS}"  # the first line of every head commit's message
BRANCH = f"fix/{IMG}"  # the feature branch
ACTOR = f"octo {ANCHOR}"
RUNNER = f"runner {SVG}"
LABEL = f"gpu {EVIL_LINK}"


def text(value: str) -> str:
    """How a name reads once rendered: whitespace (CRLF included) collapsed."""
    return " ".join(value.split())


# --------------------------------------------------------------------------------------------
# the hostile store, reports and comment bodies (built once)


def _make_hostile(folder: Path) -> Path:
    """``build_export``'s history, renamed and rewritten with the payloads above."""
    build_export(folder, runs=40, jobs_per_run=3)
    for path in [folder / "runs.json", *sorted((folder / "attempts").glob("*.json"))]:
        data = json.loads(path.read_text())
        for run in data.get("workflow_runs", [data]):
            run["name"] = WORKFLOWS[run["name"]]
            run["head_commit"]["message"] = f"{COMMIT}\n\n{ERROR}"
            run["head_branch"] = BRANCH if run["head_branch"] != "main" else "main"
            run["triggering_actor"] = {**run["triggering_actor"], "login": ACTOR}
        path.write_text(json.dumps(data))
    for path in sorted((folder / "jobs").glob("*.json")):
        data = json.loads(path.read_text())
        for job in data["jobs"]:
            job["workflow_name"] = WORKFLOWS[job["workflow_name"]]
            job["name"] = JOBS[job["name"]]
            job["runner_name"] = RUNNER
            job["labels"] = [*job["labels"], LABEL]
            for step in job["steps"]:
                step["name"] = STEPS.get(step["name"], step["name"])
            log = folder / "logs" / f"{job['id']}.txt.gz"
            if log.is_file():
                log.write_bytes(gzip.compress(_hostile_log(gzip.decompress(log.read_bytes()).decode(), job).encode(), mtime=0))
        path.write_text(json.dumps(data))
    for path in sorted((folder / "annotations").glob("*.json")):
        notes = json.loads(path.read_text())
        for note in notes:
            if "maximum execution time" in note["message"]:
                note["message"] = ANNOTATION
            else:
                note["message"] = f"{note['message']} {ANCHOR}"
        path.write_text(json.dumps(notes))
    return folder


def _hostile_log(log: str, job: dict[str, Any]) -> str:
    """The job's log with the new names, hostile error lines, two go test phases, CRLF line ends."""
    for old, new in {**JOBS, **STEPS}.items():
        log = log.replace(old, new)
    log = log.replace("Process completed with exit code 2.", ERROR)
    stamp = job["steps"][2]["completed_at"].replace("Z", ".0000000Z")
    closing = f"{job['steps'][3]['started_at'].replace('Z', '.0000000Z')} ##[group]Complete job"
    phases = [f"{stamp} --- PASS: {GO_TEST[8:]} (20.00s)", f"{stamp} ok  \tpkg/<svg/onload=window.__pwned=1>\t25.0s"]
    log = log.replace(closing, "\n".join([*phases, closing]))
    return log.replace("\n", "\r\n")


def _bare_logs(folder: Path) -> list[Path]:
    """Two job logs without API data: one that ran, one whose step hit its timeout."""
    folder.mkdir()
    t = "2026-11-19T08:0{}:00.0000000Z"
    ran = [
        f"{t.format(0)} Current runner version: '2.329.0'",
        f"{t.format(0)} Complete job name: {BARE_JOB}",
        f"{t.format(1)} ##[group]Run {SCRIPT} ./hack/{EVIL_LINK}",
        f"{t.format(1)} {SCRIPT} {EVIL_LINK}",
        f"{t.format(1)} ##[endgroup]",
        f"{t.format(4)} done",
        f"{t.format(5)} Cleaning up orphan processes",
    ]
    hung = [*ran[:5], f"{t.format(6)} ##[error]{STEP_TIMEOUT}", f"{t.format(7)} Cleaning up orphan processes"]
    paths = [folder / "ran.log", folder / "hung.log"]
    for path, lines in zip(paths, (ran, hung), strict=True):
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return paths


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store, the HTML report and the three Markdown bodies, all made by the CLI."""
    root = tmp_path_factory.mktemp("hostile")
    db = str(root / "store.db")
    export = _make_hostile(root / "export")
    code, _, err = run_cli("ingest", str(export), "--repo", REPO, "--store", db)
    assert code == 0, err
    code, _, err = run_cli("ingest", *map(str, _bare_logs(root / "bare")), "--repo", REPO, "--workflow", BARE_WORKFLOW,
                           "--store", db)  # fmt: skip
    assert code == 0, err
    html, markdown = root / "report.html", root / "weekly.md"
    code, _, err = run_cli("report", "--store", db, "--html", str(html), "--markdown", str(markdown))
    assert code == 0, err
    bodies = {"report --markdown": markdown.read_text(encoding="utf-8")}
    code, out, err = run_cli("comment", "--repo", REPO, "--pr", "7", "--store", db, "--dry-run",
                             env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})  # fmt: skip
    assert code == 0, err
    bodies["comment --dry-run"] = out
    with FakeGitHub() as fake:
        fake.pulls.add(COMMENT_PR)
        code, _, err = run_cli("comment", "--repo", REPO, "--pr", "7", "--api-url", fake.url, "--store", db,
                               env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""})  # fmt: skip
        assert code == 0, err
        assert len(fake.comments[COMMENT_PR]) == 1
        bodies["comment (as GitHub receives it)"] = fake.comments[COMMENT_PR][0]["body"]
    return {"root": root, "html": html, "bodies": bodies}


# --------------------------------------------------------------------------------------------
# the HTML report in Chromium


# What each section of the page must show as text (SVG text and tooltips included); every
# section is listed, so a new one fails the test until it is added here.
SHOWN = {
    "act": [JOBS["test (1)"], JOBS["test (2)"]],  # the jobs whose limits are cut come first (unit's is kept)
    "recommendations": [*JOBS.values(), GO_PKG],
    "changes": [*JOBS.values(), BARE_JOB],
    "units": [*JOBS.values(), *map(text, STEPS.values()), GO_PKG],  # at most 36 charts: not every unit
    "layers": [*WORKFLOWS.values(), *JOBS.values(), BARE_WORKFLOW],
    "queue": [*JOBS.values(), LABEL],
    "incidents": [ERROR, ANNOTATION, f"##[error]{STEP_TIMEOUT}", *JOBS.values(), BARE_JOB, COMMIT, BRANCH, ACTOR, RUNNER],
    "gantt": [*JOBS.values(), *map(text, STEPS.values()), GO_TEST, BARE_JOB, BARE_STEP],
    # titles are normalized lines (numbers as <N>); where: the job and step most of a signature's failures were in
    "signatures": [normalize_line(f"##[error]{ERROR}"), normalize_line(ANNOTATION), normalize_line(f"##[error]{STEP_TIMEOUT}"),
                   JOBS["test (0)"], JOBS["test (1)"], BARE_JOB, text(STEPS["Run make test-0"]), BARE_STEP],
    "flaky": [JOBS["test (0)"], *WORKFLOWS.values()],
}

# Every attribute that could run code or fetch something, on any element: a list of offenders.
_OFFENDERS = """
const out = [];
for (const el of document.querySelectorAll('*')) {
  for (const a of el.attributes) {
    const name = a.name.toLowerCase(), value = a.value.trim().toLowerCase();
    if (name.startsWith('on') || value.startsWith('javascript:')
        || (/(^|:)(href|src|srcset|action|formaction|background|poster|data)$/.test(name) && !value.startsWith('#')))
      out.push(el.tagName + ' ' + a.name + '=' + a.value);
  }
}
return out;
"""
# The only links out a report has: the failure signatures' example jobs on GitHub, built from a
# validated OWNER/NAME and two integers (never from log text).
_OWN_LINK = re.compile(r"A href=https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/actions/runs/\d+/job/\d+")
_ACTIVE_TAGS = "script, img, image, iframe, frame, object, embed, form, input, button, link, base, audio, video, use, foreignObject, svg:not(.chart)"


@pytest.mark.browser
@needs_chromium
@pytest.mark.parametrize("csp", [True, False], ids=["as-written", "without-its-CSP"])
def test_html_report_shows_the_payloads_as_text_and_runs_none(browser: Any, hostile: dict[str, Any], csp: bool) -> None:
    """No script runs, no alert opens, nothing is fetched, no element carries a handler or a link
    out, and each section shows its hostile names as text; also with the CSP taken out, so the
    escaping alone holds."""
    from selenium.common.exceptions import NoAlertPresentException

    page: Path = hostile["html"]
    source = page.read_text(encoding="utf-8")
    if not csp:
        source, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", source)
        assert n == 1
        page = page.with_name("report-without-csp.html")
        page.write_text(source, encoding="utf-8")
    console, requests = open_page(browser, page)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 - the property raises when no alert is open
    assert browser.execute_script("return window.__pwned === undefined")
    assert requests == [page.as_uri()]
    assert [e for e in console if e["level"] == "SEVERE"] == []
    assert browser.execute_script(f"return [...document.querySelectorAll({_ACTIVE_TAGS!r})].map(e => e.outerHTML)") == []
    offenders = browser.execute_script(_OFFENDERS)
    assert [o for o in offenders if not _OWN_LINK.fullmatch(o)] == []
    assert any(_OWN_LINK.fullmatch(o) for o in offenders)  # the example links are there
    sections = browser.execute_script("return [...document.querySelectorAll('main > section[id]')].map(s => s.id)")
    assert sorted(sections) == sorted(SHOWN)
    for section, payloads in SHOWN.items():
        shown = text(browser.execute_script("return document.getElementById(arguments[0]).textContent", section))
        missing = [p for p in payloads if text(p) not in shown]
        assert missing == [], f"#{section} does not show {missing}"


# --------------------------------------------------------------------------------------------
# the Markdown: report --markdown, comment --dry-run, and the body GitHub receives

_ALLOWED_HTML = {MARKER, "<details>", "</details>", "<summary>", "</summary>", "<sub>", "</sub>"}
_HTML_PIECE = re.compile(r"<!--.*?-->|</?[A-Za-z][^>]*>", re.S)
_MERMAID_LINE = re.compile(
    r"gantt|    title [A-Za-z0-9 ._/()+=-]+ - median run [\w .]+|    dateFormat X|    axisFormat %[MH]:%[MS]"
    r"|    (?!(?i:click|call|href|section|title|gantt)\b)[A-Za-z0-9 ._/()+=-]+ :(crit, )?s\d+, \d+, \d+"
)
# What GitHub turns into links by itself (GFM's extended autolinks) or into notifications.
_AUTOLINK = re.compile(r"(?i)(?:https?|ftp)://|\bwww\.|[\w.+-]+@[\w-]+\.\w")
_PING = re.compile(r"@[\w-]")
_REFERENCE = re.compile(r"(?i)(?<![\w/])#\d|\bgh-\d")  # an issue link and cross-reference
# What the Markdown must still show (as rendered text), one per hostile source.
SHOWN_IN_MARKDOWN = [*JOBS.values(), ERROR, STEP_TIMEOUT, BARE_JOB, BRANCH, ACTOR, RUNNER, LABEL]


def _walk(tokens: list[Any]) -> list[Any]:
    out = []
    for token in tokens:
        out.append(token)
        out += _walk(token.children or [])
    return out


def _table_widths(body: str) -> list[list[int]]:
    """Cells per row of each table, split as GFM splits them: on ``|``, a backslash escaping the
    character after it (so ``\\|`` is an escaped backslash and then a cell border)."""
    tables: list[list[int]] = []
    previous = False
    for line in body.split("\n"):
        is_row = line.startswith("|")
        if is_row:
            cells = sum(m[0] == "|" for m in re.finditer(r"\\.|\|", line)) - 1
            (tables[-1].append(cells) if previous else tables.append([cells]))
        previous = is_row
    return tables


@pytest.mark.parametrize("source", ["report --markdown", "comment --dry-run", "comment (as GitHub receives it)"])
def test_markdown_is_inert_and_well_formed(hostile: dict[str, Any], source: str) -> None:
    """One marker; no raw HTML but our own tags, balanced; no link, image, code span, autolink or
    @mention; tables keep their columns; fences are mermaid of the expected grammar; and the
    hostile text is still there to read."""
    body: str = hostile["bodies"][source]
    assert body.startswith(MARKER + "\n")
    assert body.count(MARKER) == 1 and body.count("<!--") == 1 and body.count("-->") == 1
    assert re.findall(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", body) == []  # no CR, and nothing for a terminal to obey
    assert _PING.findall(body) == []
    assert _REFERENCE.findall(body) == []
    assert re.findall(r"(?<!\\)\$", body) == []  # GitHub renders $…$ as math
    assert "@\u200boctocat" in body and "@\u200borg/team" in body  # GitHub does not ping across a zero-width space
    assert "<script" not in body and "<img" not in body and "<svg" not in body and "<a " not in body

    tokens = _walk(MarkdownIt("commonmark").enable("table").parse(body))
    kinds = {t.type for t in tokens}
    assert not kinds & {"link_open", "image", "code_inline", "code_block"}, kinds
    pieces = [p for t in tokens if t.type in ("html_block", "html_inline") for p in _HTML_PIECE.findall(t.content)]
    assert set(pieces) <= _ALLOWED_HTML, set(pieces) - _ALLOWED_HTML
    depth = 0
    for piece in pieces:
        depth += {"<details>": 1, "</details>": -1}.get(piece, 0)
        assert depth in (0, 1), pieces
    assert depth == 0
    for fence in (t for t in tokens if t.type == "fence"):
        assert fence.info == "mermaid"
        assert [line for line in fence.content.splitlines() if not _MERMAID_LINE.fullmatch(line)] == []
    assert f"    - {CHECKOUT} :" in body  # shown, as a task

    tables = _table_widths(body)
    assert len(tables) == sum(t.type == "table_open" for t in tokens) >= 2
    assert all(len(set(widths)) == 1 for widths in tables), tables
    shown = text(" ".join(t.content for t in tokens if t.type == "text"))
    assert [shown[max(0, m.start() - 30) : m.end() + 30] for m in _AUTOLINK.finditer(shown)] == []
    readable = shown.replace("\u200b", "").replace("\u241b", "\x1b").replace("\u2407", "\x07")  # ␛ and ␇ stand for ESC, BEL
    assert [p for p in SHOWN_IN_MARKDOWN if text(p) not in readable] == []


# --------------------------------------------------------------------------------------------
# the failures command: its Markdown and its terminal table

_OWN_MD_LINK = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/actions/runs/\d+/job/\d+")


def test_failures_markdown_is_inert_and_the_table_cannot_drive_a_terminal(hostile: dict[str, Any]) -> None:
    """``failures --format markdown``: log text only as escaped text or inside code blocks that no line
    can close; no HTML but our own tags; the only links are the examples' GitHub jobs. The table
    shows control characters as symbols. Both still show the hostile text."""
    db = str(hostile["root"] / "store.db")
    code, body, err = run_cli("failures", "--store", db, "--since", "60d", "--format", "markdown")
    assert code == 0, err
    tokens = _walk(MarkdownIt("commonmark").enable("table").parse(body))
    fences = [t for t in tokens if t.type == "fence"]
    assert fences and all(f.info == "text" for f in fences)
    assert any(normalize_line(f"##[error]{ERROR}") in f.content for f in fences)  # shown verbatim, inside the block
    outside = [t for t in tokens if t.type != "fence"]
    pieces = [p for t in outside if t.type in ("html_block", "html_inline") for p in _HTML_PIECE.findall(t.content)]
    assert set(pieces) <= {"<details>", "</details>", "<summary>", "</summary>", "<code>", "</code>"}, set(pieces)
    links = [t.attrGet("href") for t in outside if t.type == "link_open"]
    assert links and all(_OWN_MD_LINK.fullmatch(str(href)) for href in links)
    assert not any(t.type == "image" for t in outside)
    shown = text(" ".join(t.content for t in outside if t.type == "text"))
    assert _PING.findall(shown) == [] and _REFERENCE.findall(shown) == []
    assert [m.group(0) for m in _AUTOLINK.finditer(shown.replace("\u200b", ""))] != []  # hostile text is there ...
    assert [shown[max(0, m.start() - 20) : m.end() + 20] for m in _AUTOLINK.finditer(shown)] == []  # ... but inert
    assert re.findall(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", body) == []
    code, table, _ = run_cli("failures", "--store", db, "--since", "60d")
    assert code == 0 and "\x1b" not in table and "\r" not in table
    assert "unit <im" in table and "lint <!--" in table and "local:hung.log" in table  # names, cut in the middle
