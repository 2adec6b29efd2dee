"""Built-in phase detectors: Ginkgo suites, go test, pytest and ``kubectl wait``, always on.

``ginkgo:before-suite``, ``ginkgo:suite``, ``go-test:<Test>``, ``go-pkg:<import path>``, ``pytest``
and ``kubectl-wait:<kind/name>`` (pod names lose their ReplicaSet/random suffix so that runs share
one unit).
"""

from __future__ import annotations

import re
from datetime import timedelta

from analyzer.parse.logs.index import Line, LogIndex
from analyzer.parse.logs.phases import Phase
from analyzer.parse.logs.signals import GO_PANIC_RE, KUBECTL_LIMIT_RE, KUBECTL_TIMEOUT_RE, Sig
from analyzer.parse.logs.steps import Range
from analyzer.parse.logs.text import evidence, parse_duration

Detection = tuple[str, Line, re.Match[str]]

_BEFORE_SUITE_RE = re.compile(
    r"\[(?:Synchronized)?BeforeSuite\] \[?(PASSED|FAILED|TIMEDOUT|PANICKED|INTERRUPTED|ABORTED)\]?"
    r" \[(\d+(?:\.\d+)?) seconds\]"
)
_RAN_RE = re.compile(r"\bRan \d+ of \d+ Specs in (\d+(?:\.\d+)?) seconds")
_SUITE_TIMEOUT_RE = re.compile(r"\[TIMEDOUT\] A suite timeout occurred(?: \(([^)]{1,40})\))?")
_GO_TEST_RE = re.compile(r"--- (PASS|FAIL): ([^\s/]+) \((\d+(?:\.\d+)?)s\)")
_GO_PKG_RE = re.compile(r"(ok|FAIL)\s+(\S+)\s+(\d+(?:\.\d+)?)s(?:\s|$)")
_PYTEST_RE = re.compile(r"=+ ([^=\n]{1,500}?) in (\d+(?:\.\d+)?)s(?: \(\d+:\d\d:\d\d(?:\.\d+)?\))? =+")
_PYTEST_WORDS_RE = re.compile(
    r"\b(?:passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?|rerun)\b|no tests ran"
)
KUBECTL_CMD_RE = re.compile(r"\bkubectl\s+wait\b")
_CONDITION_MET_RE = re.compile(r"(\S+) condition met")
_K8S_SUFFIX_RE = re.compile(
    r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$|"
    r"-[bcdfghjklmnpqrstvwxz2456789]{5}$"
)
_KUBECTL_DEFAULT_TIMEOUT_S = 30.0  # kubectl wait --timeout defaults to 30s


def detect(text: str) -> tuple[str, re.Match[str]] | None:
    if "BeforeSuite]" in text and (m := _BEFORE_SUITE_RE.search(text)):
        return "before-suite", m
    if "A suite timeout occurred" in text and (m := _SUITE_TIMEOUT_RE.search(text)):
        return "suite-timeout", m
    if "Specs in" in text and (m := _RAN_RE.search(text)):
        return "suite", m
    if text.startswith("--- ") and (m := _GO_TEST_RE.match(text)):
        return "go-test", m
    if (text.startswith("ok") or text.startswith("FAIL")) and (m := _GO_PKG_RE.match(text)):
        return "go-pkg", m
    if (
        text.startswith("=")
        and " in " in text
        and (m := _PYTEST_RE.match(text.strip()))
        and _PYTEST_WORDS_RE.search(m.group(1))
    ):
        return "pytest", m
    if "condition met" in text and (m := _CONDITION_MET_RE.search(text)):
        return "kubectl-met", m
    if "timed out waiting for the condition" in text and (m := KUBECTL_TIMEOUT_RE.search(text)):
        return "kubectl-timeout", m
    return None


def detect_kubectl_wait(ln: Line) -> Detection | None:
    """An executed (not echoed) ``kubectl wait`` command: the start of a ``kubectl-wait:`` phase."""
    if "kubectl" in ln.text and not ln.cyan and (m := KUBECTL_CMD_RE.search(ln.text)):
        return "kubectl-cmd", ln, m
    return None


def normalize_resource(res: str) -> str:
    """``pods/web-77ccd99cdc-vc8h8`` -> ``pod/web``: stable across runs."""
    res = res.strip().rstrip(".,;:)")
    kind, sep, name = res.partition("/")
    if not sep:
        return res
    kind = kind.split(".")[0].lower()
    if kind.endswith("s") and not kind.endswith("ss"):
        kind = kind[:-1]
    if kind == "pod":
        name = _K8S_SUFFIX_RE.sub("", name)
    return f"{kind}/{name}"


def detector_phases(log: LogIndex, detections: list[Detection], sigs: list[Sig], ranges: list[Range]) -> list[Phase]:
    phases: list[Phase] = []
    timeout_sigs = [s for s in sigs if s.kind in ("test_timeout", "tool_timeout")]
    suite_timeouts: dict[int, Phase] = {}
    last_pkg_no: dict[int, int] = {}
    kubectl_cmd: dict[int, tuple[Line, float | None]] = {}
    kubectl_done: dict[tuple[int, str], Phase] = {}

    def from_text(name: str, ln: Line, secs: float, outcome: str, censored: bool, limit: float | None) -> Phase:
        start = ln.at - timedelta(seconds=secs) if ln.at is not None else None
        return Phase(name, ln.step, start, ln.at, secs, outcome, censored, limit, evidence(ln.text), ln.no)

    for kind, ln, m in detections:
        if kind == "before-suite":
            secs = float(m.group(2))
            status = m.group(1)
            if status == "PASSED":
                outcome, censored = "success", False
            elif status == "TIMEDOUT" or _timed_out_near(ln, secs, timeout_sigs):
                outcome, censored = "timeout", True
            elif status in ("INTERRUPTED", "ABORTED"):
                outcome, censored = "cancelled", True
            else:
                outcome, censored = "failure", False
            phases.append(from_text("ginkgo:before-suite", ln, secs, outcome, censored, None))
        elif kind == "suite-timeout":
            limit = parse_duration(m.group(1)) if m.group(1) else None
            r = ranges[ln.step] if ln.step >= 0 else None
            step_start = r.started_at if r else None
            secs = (ln.at - step_start).total_seconds() if ln.at and step_start else 0.0
            ph = Phase(
                "ginkgo:suite", ln.step, step_start, ln.at, secs, "timeout", True, limit, evidence(ln.text), ln.no
            )
            phases.append(ph)
            suite_timeouts[ln.step] = ph
        elif kind == "suite":
            secs = float(m.group(1))
            prior = suite_timeouts.pop(ln.step, None)
            if prior is not None:  # the summary after a suite timeout: same suite, exact duration
                prior.duration_s = secs
                prior.started_at = ln.at - timedelta(seconds=secs) if ln.at else prior.started_at
                continue
            failed = b"FAIL!" in log.buf[ln.end : min(log.n, ln.end + 2048)]
            phases.append(from_text("ginkgo:suite", ln, secs, "failure" if failed else "success", False, None))
        elif kind == "go-test":
            outcome = "success" if m.group(1) == "PASS" else "failure"
            phases.append(from_text(f"go-test:{m.group(2)}", ln, float(m.group(3)), outcome, False, None))
        elif kind == "go-pkg":
            prev_no = last_pkg_no.get(ln.step, 0)
            last_pkg_no[ln.step] = ln.no
            outcome, censored, limit = ("success" if m.group(1) == "ok" else "failure"), False, None
            if m.group(1) == "FAIL":
                for sg in sigs:
                    if (
                        sg.line.step == ln.step
                        and prev_no < sg.line.no < ln.no
                        and GO_PANIC_RE.search(sg.line.text)
                    ):
                        outcome, censored, limit = "timeout", True, sg.limit
            phases.append(from_text(f"go-pkg:{m.group(2)}", ln, float(m.group(3)), outcome, censored, limit))
        elif kind == "pytest":
            words = m.group(1)
            bad = re.search(r"\b(?:failed|errors?)\b", words) is not None
            phases.append(from_text("pytest", ln, float(m.group(2)), "failure" if bad else "success", False, None))
        elif kind == "kubectl-cmd":
            lm = KUBECTL_LIMIT_RE.search(ln.text)
            limit = parse_duration(lm.group(1)) if lm else _KUBECTL_DEFAULT_TIMEOUT_S
            kubectl_cmd[ln.step] = (ln, limit)
        elif kind in ("kubectl-met", "kubectl-timeout"):
            cmd = kubectl_cmd.get(ln.step)
            if cmd is None or not m.group(1):
                continue
            cmd_line, limit = cmd
            name = "kubectl-wait:" + normalize_resource(m.group(1))
            secs = (ln.at - cmd_line.at).total_seconds() if ln.at and cmd_line.at else 0.0
            timed_out = kind == "kubectl-timeout"
            ph = Phase(
                name,
                ln.step,
                cmd_line.at,
                ln.at,
                secs,
                "timeout" if timed_out else "success",
                timed_out,
                limit,
                evidence(ln.text),
                ln.no,
                start_line=cmd_line.no,
            )
            key = (cmd_line.no, name)
            old = kubectl_done.get(key)
            if old is not None:
                phases.remove(old)
            kubectl_done[key] = ph
            phases.append(ph)
    # a kubectl timeout line states no limit; the echoed command did
    for sg in sigs:
        if sg.kind == "tool_timeout" and sg.limit is None and KUBECTL_TIMEOUT_RE.search(sg.line.text):
            for ph in phases:
                if ph.name.startswith("kubectl-wait:") and ph.end_line == sg.line.no:
                    sg.limit = ph.limit_s
    return phases


def _timed_out_near(ln: Line, secs: float, timeout_sigs: list[Sig]) -> bool:
    """A timeout signal in the same step within the span (or the report printed with it)."""
    if ln.at is None:
        return any(s.line.step == ln.step and s.line.no <= ln.no + 200 for s in timeout_sigs)
    lo = ln.at - timedelta(seconds=secs + 1)
    hi = ln.at + timedelta(seconds=2)
    return any(s.line.step == ln.step and s.line.at is not None and lo <= s.line.at <= hi for s in timeout_sigs)
