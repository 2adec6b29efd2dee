"""Runs a composite action (action.yml) the way a GitHub runner does, for tests.

``run_action`` walks the action's steps in order: it evaluates ``if:`` conditions and ``${{ }}``
templates (inputs with their defaults, ``github``, ``runner``, ``steps`` outputs), runs each
``run:`` script with ``bash --noprofile --norc -eo pipefail`` and the environment a runner gives a
composite step (``GITHUB_*``, ``RUNNER_TEMP``, ``GITHUB_ACTION_PATH``, fresh ``GITHUB_OUTPUT`` /
``GITHUB_ENV`` / ``GITHUB_PATH`` / ``GITHUB_STEP_SUMMARY`` files read back after the step), and
stands in for the ``uses:`` steps it depends on:

- ``actions/setup-python``: a fresh venv (no pip) that sees this interpreter's site-packages, first
  on ``PATH`` (so the action's install step really builds and installs the action's checkout);
- ``actions/cache/restore`` and ``/save``: ``Services.caches``, keys immutable, ``restore-keys``
  prefixes matched newest first, ``cache-hit`` only for the exact key;
- ``actions/upload-artifact`` and ``actions/download-artifact``: files copied to and from
  ``Services.artifacts`` and announced on the fake GitHub (``/runs/{id}/artifacts``), so a later run
  finds them through the API; a download from another run needs ``run-id`` and ``github-token``.

``Services`` outlives a job (GitHub's cache and artifact storage); each ``run_action`` call is a
fresh runner: new workspace, temp folder and Python.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.fake_github import TOKEN, FakeGitHub

STATUS = "__status__"  # in an expression's context: what the steps or needed jobs so far ended with
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


class StepFailed(Exception):
    pass


@dataclass
class Services:
    """What outlives one job: the cache service and the artifact storage of the repository."""

    root: Path
    fake: FakeGitHub
    caches: dict[str, Path] = field(default_factory=dict)  # key -> saved copy, oldest first
    artifacts: dict[tuple[int, str], Path] = field(default_factory=dict)  # (run id, name) -> files
    branches: dict[str, int] = field(default_factory=dict)  # pull-request branch -> its pull request number

    def evict_caches(self) -> None:
        """GitHub evicts a cache entry not used for 7 days: a weekly job finds none."""
        self.caches.clear()


@dataclass
class StepRecord:
    name: str
    ran: bool
    outputs: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""


@dataclass
class ActionResult:
    steps: list[StepRecord]
    outputs: dict[str, str]
    summary: str
    workspace: Path

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)

    @property
    def log(self) -> str:
        return "\n".join(s.stdout + s.stderr for s in self.steps)


# -- expressions ------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||[!(),])|(?P<word>[A-Za-z_][\w.-]*))")


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """A GitHub Actions expression: contexts, string literals, ==, !=, !, &&, ||, ( ), true/false/null and
    the functions success(), always(), failure(), cancelled(), contains(), startsWith(). Comparison of
    strings ignores case."""
    tokens: list[tuple[str, str]] = []
    rest = expression.strip()
    while rest:
        match = _TOKEN.match(rest)
        if not match:
            raise ValueError(f"cannot read the expression {expression!r} at {rest!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        rest = rest[match.end() :].lstrip()
    position = 0

    def peek() -> str | None:
        return tokens[position][1] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def either() -> Any:
        value = both()
        while peek() == "||":
            take()
            right = both()
            value = value if truthy(value) else right
        return value

    def both() -> Any:
        value = compare()
        while peek() == "&&":
            take()
            right = compare()
            value = right if truthy(value) else value
        return value

    def compare() -> Any:
        value = unary()
        while peek() in ("==", "!="):
            op = take()[1]
            same = equal(value, unary())
            value = same if op == "==" else not same
        return value

    def unary() -> Any:
        if peek() == "!":
            take()
            return not truthy(unary())
        return primary()

    def primary() -> Any:
        kind, text = take()
        if text == "(":
            value = either()
            take()
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if peek() == "(":
            take()
            args = []
            while peek() != ")":
                args.append(either())
                if peek() == ",":
                    take()
            take()
            return call(text, args)
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        value: Any = context
        for part in text.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def call(name: str, args: list[Any]) -> Any:
        # a failed step stops run_action, so every step reached follows successes; a workflow job's
        # condition sees what its needs ended with (``STATUS`` in the context, tests/workflow.py)
        status = context.get(STATUS, "success")
        if name in ("success", "always", "failure", "cancelled"):
            return {"success": status == "success", "always": True, "failure": status == "failure", "cancelled": False}[name]
        if name == "contains":
            return str(loose(args[1])) in str(loose(args[0]))
        if name == "startsWith":
            return str(loose(args[0])).startswith(str(loose(args[1])))
        raise ValueError(f"function {name}() is not emulated")

    result = either()
    if position != len(tokens):
        raise ValueError(f"cannot read the expression {expression!r}")
    return result


def equal(left: Any, right: Any) -> bool:
    """GitHub's ``==``: strings ignore case; values of different types are compared as numbers
    (null and '' are 0, true is 1), so a skipped step's missing output equals ''."""
    if type(left) is type(right):
        return bool(loose(left) == loose(right))
    return _number(left) == _number(right)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    try:
        return float(value) if str(value).strip() else 0.0
    except ValueError:
        return float("nan")


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0)


def loose(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: Any, context: dict[str, Any]) -> str:
    """A value with ``${{ expr }}`` templates filled in."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: as_text(evaluate(m.group(1), context)), as_text(template))


# -- the runner ---------------------------------------------------------------------------------


@dataclass
class Job:
    """One job on a fresh runner: its folders, the environment every step gets (``PATH`` grows as
    setup-python and ``GITHUB_PATH`` add to it), the ``github`` context and the job summary."""

    root: Path
    workspace: Path
    temp: Path
    tools: Path
    run_id: int
    env: dict[str, str]
    github: dict[str, str]
    summary: list[str] = field(default_factory=list)
    steps_run: int = 0  # numbers the files of every step of the job, actions' steps included


def start_job(
    services: Services, *, run_id: int, workflow_ref: str, env: dict[str, str] | None = None, event: str = "schedule",
    name: str = "",
) -> Job:  # fmt: skip
    """A fresh runner for one job of run ``run_id``: new workspace, temp folder and tool cache."""
    root = services.root / f"runner-{run_id}{'-' + name if name else ''}"
    workspace, temp, tools = root / "work", root / "temp", root / "tools"
    home = services.root / "home"  # the same path on every runner, empty at the start of each job
    shutil.rmtree(home, ignore_errors=True)
    for folder in (workspace, temp, tools, home):
        folder.mkdir(parents=True)
    fake = services.fake
    github = {
        "repository": fake.data.full_name, "run_id": str(run_id), "run_attempt": "1", "token": TOKEN,
        "workspace": str(workspace), "api_url": fake.url, "server_url": "https://github.test",
        "workflow_ref": workflow_ref, "event_name": event,
    }  # fmt: skip
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8", "CI": "true",
        "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": github["repository"], "GITHUB_RUN_ID": str(run_id),
        "GITHUB_RUN_ATTEMPT": "1", "GITHUB_WORKSPACE": str(workspace), "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": github["server_url"], "GITHUB_WORKFLOW_REF": workflow_ref,
        "GITHUB_EVENT_NAME": event, "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux", "RUNNER_TOOL_CACHE": str(tools),
        **(env or {}),
    }  # fmt: skip
    return Job(root, workspace, temp, tools, run_id, base_env, github)


def run_action(
    action_dir: Path, services: Services, *, run_id: int, inputs: dict[str, str], workflow_ref: str = "",
    env: dict[str, str] | None = None, timeout_s: float = 180.0, job: Job | None = None,
) -> ActionResult:  # fmt: skip
    """The action at ``action_dir`` with ``inputs``: in ``job`` (a step of a workflow job), else as the
    only step of a new job of run ``run_id`` of the workflow ``workflow_ref``."""
    action = YAML(typ="safe", pure=True).load((action_dir / "action.yml").read_text(encoding="utf-8"))
    if job is None:
        job = start_job(services, run_id=run_id, workflow_ref=workflow_ref, env=env)
    base_env = job.env
    base_env["GITHUB_ACTION_PATH"] = str(action_dir)
    github = {**job.github, "action_path": str(action_dir)}
    context: dict[str, Any] = {"github": github, "runner": {"temp": str(job.temp), "os": "Linux"}, "steps": {}}
    declared = action.get("inputs") or {}
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    context["inputs"] = {name: inputs.get(name, render(spec.get("default", ""), context)) for name, spec in declared.items()}
    records: list[StepRecord] = []
    summary: list[str] = []
    for number, step in enumerate(action["runs"]["steps"], 1):
        name = step.get("name") or step.get("uses") or f"step {number}"
        condition = step.get("if", "success()")
        condition = condition[3:-2] if condition.strip().startswith("${{") else condition
        if not truthy(evaluate(condition, context)):
            records.append(StepRecord(name, ran=False))
            context["steps"][step.get("id", f"_{number}")] = {"outputs": {}, "outcome": "skipped"}
            continue
        job.steps_run += 1
        if "run" in step:
            record = _run_script(step, name, job.steps_run, context, base_env, job.root, job.workspace, timeout_s, summary)
        else:
            record = _uses(step, name, context, services, job.run_id, base_env, job.workspace, job.tools)
        records.append(record)
        context["steps"][step.get("id", f"_{number}")] = {"outputs": record.outputs, "outcome": "success"}
    outputs = {k: render(v.get("value", ""), context) for k, v in (action.get("outputs") or {}).items()}
    job.summary += summary
    return ActionResult(records, outputs, "".join(summary), job.workspace)


def _run_script(
    step: dict[str, Any], name: str, number: int, context: dict[str, Any], base_env: dict[str, str], job: Path,
    workspace: Path, timeout_s: float, summary: list[str],
) -> StepRecord:  # fmt: skip
    assert step.get("shell") == "bash", f"{name}: a composite run step names its shell"
    assert "${{" not in step["run"], f"{name}: inputs reach scripts through env, not templates"
    files = {key: job / f"step-{number}-{key.lower()}" for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH",
                                                                    "GITHUB_STEP_SUMMARY")}  # fmt: skip
    for path in files.values():
        path.write_text("")
    script = job / f"step-{number}.sh"
    script.write_text(step["run"])
    step_env = {k: render(v, context) for k, v in (step.get("env") or {}).items()}
    environ = {**base_env, **step_env, **{k: str(v) for k, v in files.items()}}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                          env=environ, capture_output=True, text=True, timeout=timeout_s, check=False)  # fmt: skip
    if done.returncode != 0:
        raise StepFailed(f"step {name!r} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    base_env.update(_key_values(files["GITHUB_ENV"].read_text()))
    for line in reversed(files["GITHUB_PATH"].read_text().splitlines()):
        base_env["PATH"] = f"{line}{os.pathsep}{base_env['PATH']}"
    summary.append(files["GITHUB_STEP_SUMMARY"].read_text())
    return StepRecord(name, True, _key_values(files["GITHUB_OUTPUT"].read_text()), done.stdout, done.stderr)


def _key_values(text: str) -> dict[str, str]:
    """``GITHUB_OUTPUT``/``GITHUB_ENV`` lines: ``key=value`` and ``key<<DELIMITER`` … ``DELIMITER``."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body = []
            for more in lines:
                if more == delimiter:
                    break
                body.append(more)
            values[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _uses(
    step: dict[str, Any], name: str, context: dict[str, Any], services: Services, run_id: int,
    base_env: dict[str, str], workspace: Path, tools: Path,
) -> StepRecord:  # fmt: skip
    uses = step["uses"]
    assert SHA_PINNED.match(uses), f"{name}: {uses} is not pinned by a full commit SHA"
    action = uses.split("@", 1)[0]
    given = {k: render(v, context) for k, v in (step.get("with") or {}).items()}

    def local(path: str) -> Path:
        return Path(path) if Path(path).is_absolute() else workspace / path

    outputs: dict[str, str] = {}
    if action == "actions/setup-python":
        assert given.get("python-version"), f"{name}: no python-version"
        venv = tools / "python"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        inner = subprocess.run([str(venv / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                               check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
        # this interpreter's packages (pip, hatchling, the dependencies) behind the venv's own
        Path(inner, "_host_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        base_env["PATH"] = f"{venv / 'bin'}{os.pathsep}{base_env['PATH']}"
        outputs = {"python-version": platform.python_version(), "python-path": str(venv / "bin" / "python")}
    elif action == "actions/cache/restore":
        key, prefixes = given["key"], _lines(given.get("restore-keys", ""))
        matched = key if key in services.caches else None
        for prefix in prefixes if matched is None else []:
            newest = [k for k in services.caches if k.startswith(prefix)]
            if newest:
                matched = newest[-1]
                break
        if matched is not None:
            for path in _lines(given["path"]):
                _copy(services.caches[matched] / _slot(path), local(path))
        outputs = {"cache-hit": as_text(matched == key), "cache-primary-key": key, "cache-matched-key": matched or ""}
    elif action == "actions/cache/save":
        key, paths = given["key"], _lines(given["path"])
        if key not in services.caches and any(local(p).exists() for p in paths):
            entry = services.root / "caches" / f"{len(services.caches)}"
            for path in paths:
                _copy(local(path), entry / _slot(path))
            services.caches[key] = entry
    elif action == "actions/upload-artifact":
        artifact = given["name"]
        paths = [local(p) for p in _lines(given["path"])]
        found = [p for p in paths if p.exists()]
        hidden = any(part.startswith(".") for p in found for part in p.relative_to(workspace).parts) \
            if all(p.is_relative_to(workspace) for p in found) else False  # fmt: skip
        if hidden and given.get("include-hidden-files") != "true":
            found = []
        if not found:
            assert given.get("if-no-files-found", "warn") != "error", f"{name}: no files for {artifact}"
            return StepRecord(name, True)
        slot = (run_id, artifact)
        if slot in services.artifacts:
            assert given.get("overwrite") == "true", f"{name}: {artifact} exists in run {run_id}"
            services.fake.artifacts[run_id] = [a for a in services.fake.artifacts[run_id] if a["name"] != artifact]
        root = Path(os.path.commonpath([p.parent if p.is_file() else p for p in paths]))
        stored = services.root / "artifacts" / str(run_id) / artifact
        for path in found:
            _copy(path, stored / path.relative_to(root))
        services.artifacts[slot] = stored
        size = sum(f.stat().st_size for f in stored.rglob("*") if f.is_file())
        outputs = {"artifact-id": str(services.fake.add_artifact(run_id, artifact, size)["id"])}
    elif action == "actions/download-artifact":
        artifact, source = given["name"], int(given.get("run-id") or run_id)
        if "run-id" in given:
            assert given.get("github-token") == TOKEN, f"{name}: another run's artifact needs github-token"
        listed = [a for a in services.fake.artifacts.get(source, []) if a["name"] == artifact and not a["expired"]]
        if not listed or (source, artifact) not in services.artifacts:
            raise StepFailed(f"{name}: artifact {artifact} of run {source} not found")
        target = local(given.get("path") or ".")
        _copy(services.artifacts[(source, artifact)], target)
        outputs = {"download-path": str(target)}
    else:
        raise AssertionError(f"{name}: {action} is not emulated")
    return StepRecord(name, True, outputs)


def _slot(path: str) -> str:
    return re.sub(r"[^\w.-]", "_", path)


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    elif source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
