"""Settings and ``we-advisor.toml`` loading.

The file is optional; every key has a default. Unknown keys are an error (a typo must not pass
silently), and so are regexes that do not compile.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from analyzer.errors import ConfigError

DEFAULT_CONFIG_NAME = "we-advisor.toml"
DEFAULT_STORE = Path("data") / "we-advisor.db"
QUANTILE_RANGE = "0.5 <= quantile < 1"
DEFAULT_COMMENT_LABEL = "we-advisor"  # the label of the pull request the weekly comment goes to

_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")  # GitHub's OWNER/NAME


def is_repo_name(name: str) -> bool:
    """Whether ``name`` is a repository's ``OWNER/NAME`` as GitHub allows them."""
    return _REPO_NAME.fullmatch(name) is not None


def job_url(repo: str, run_id: int, job_id: int) -> str | None:
    """A job attempt's page on github.com, for ids GitHub gave (a local ingest's are negative)."""
    if run_id > 0 and job_id > 0 and is_repo_name(repo):
        return f"https://github.com/{repo}/actions/runs/{run_id}/job/{job_id}"
    return None


def require_repo(name: str | None, *, option: str = "--repo") -> str:
    """``name`` (spaces and slashes around it dropped) if it is ``OWNER/NAME``, else a ConfigError."""
    text = (name or "").strip().strip("/")
    if not is_repo_name(text):
        raise ConfigError(f"{option} {text!r} is not OWNER/NAME", hint="e.g. --repo jordigilh/kubernaut")
    return text


def quantile_ok(value: float) -> bool:
    """Whether ``value`` is a target quantile we-advisor can work with (``QUANTILE_RANGE``)."""
    return 0.5 <= value < 1


def require_quantile(value: float, *, where: str = "--quantile") -> float:
    """``value`` if it is in ``QUANTILE_RANGE``, else a ConfigError naming ``where``."""
    if not quantile_ok(value):
        raise ConfigError(f"{where} {value} out of range", hint=f"use {QUANTILE_RANGE}, e.g. 0.99")
    return value


@dataclass(frozen=True, slots=True)
class PhaseRule:
    """A sub-step span inside a step's log, found by a start regex and an optional end regex."""

    name: str
    start: str
    end: str | None = None
    step: str | None = None  # regex searched in the step name (or the job name)
    timeout_s: float | None = None  # the limit currently in force, when known

    @property
    def start_re(self) -> re.Pattern[str]:
        return re.compile(self.start)

    @property
    def end_re(self) -> re.Pattern[str] | None:
        return re.compile(self.end) if self.end else None

    @property
    def step_re(self) -> re.Pattern[str] | None:
        return re.compile(self.step) if self.step else None


@dataclass(frozen=True, slots=True)
class TimeoutRule:
    """Where a current limit lives in source, so ``recommend --patch`` can rewrite it."""

    file: str
    pattern: str  # a regex whose first group is the number to rewrite
    phase: str | None = None
    job: str | None = None
    step: str | None = None
    unit: str = "s"  # unit of the number in the file: s, m or ms


@dataclass(frozen=True, slots=True)
class CommentTarget:
    """``[comment]``: the pull request the weekly report comment goes to when ``--pr`` is not given:
    ``pr``, else the newest open pull request labelled ``label``."""

    pr: int | None = None
    label: str = DEFAULT_COMMENT_LABEL


@dataclass(frozen=True, slots=True)
class Settings:
    """Effective settings: defaults, then we-advisor.toml, then command-line options."""

    repo: str | None = None
    quantile: float = 0.99
    min_samples: int = 20
    window_days: int = 30
    phases: tuple[PhaseRule, ...] = ()
    timeouts: tuple[TimeoutRule, ...] = ()
    source: str | None = None  # the file these came from, for messages
    extra: dict[str, Any] = field(default_factory=dict)
    comment: CommentTarget = field(default_factory=CommentTarget)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_TOP_KEYS = {"repo", "quantile", "min_samples", "window_days", "phases", "timeouts", "preset", "comment"}
_PHASE_KEYS = {"name", "start", "end", "step", "timeout_s"}
_TIMEOUT_KEYS = {"file", "pattern", "phase", "job", "step", "unit"}
_COMMENT_KEYS = {"pr", "label"}


def load_settings(path: Path | None = None, *, required: bool = False) -> Settings:
    """Read settings from ``path`` (default ``./we-advisor.toml``; absent is fine unless required)."""
    explicit = path is not None
    path = path or Path(DEFAULT_CONFIG_NAME)
    if not path.exists():
        if explicit or required:
            raise ConfigError(
                f"config file {path} does not exist",
                hint="pass an existing file with --config, or omit it to use defaults",
            )
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", hint="save it as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="check the line named above") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
    return settings_from_mapping(data, source=str(path))


def load_preset(name: str) -> Settings:
    """A preset shipped with the package (``kubernaut-e2e``)."""
    try:
        text = resources.files("analyzer.presets").joinpath(f"{name}.toml").read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"unknown preset {name!r}", hint=f"available presets: {', '.join(list_presets())}") from None
    return settings_from_mapping(tomllib.loads(text), source=f"preset:{name}")


def list_presets() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml") for p in resources.files("analyzer.presets").iterdir() if p.name.endswith(".toml")
    )


def settings_from_mapping(data: dict[str, Any], *, source: str = "<config>") -> Settings:
    _known_keys(data, _TOP_KEYS, f"{source}:")
    base = Settings()
    if "preset" in data:
        base = load_preset(_typed(data, "preset", str, source))
    repo = data.get("repo", base.repo)
    if repo is not None:
        repo = _typed(data, "repo", str, source)
        if not is_repo_name(repo):
            raise ConfigError(f"{source}: repo {repo!r} is not OWNER/NAME", hint='e.g. repo = "octo/app"')
    quantile = require_quantile(float(_typed(data, "quantile", (int, float), source, base.quantile)), where=f"{source}: quantile")
    min_samples = _typed(data, "min_samples", int, source, base.min_samples)
    window_days = _typed(data, "window_days", int, source, base.window_days)
    if min_samples < 1 or window_days < 1:
        raise ConfigError(f"{source}: min_samples and window_days must be positive", hint="e.g. min_samples = 20")
    phases = base.phases + tuple(_phase_rule(p, source) for p in _tables(data, "phases", source))
    names = [p.name for p in phases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(
            f"{source}: phase {sorted(dup)[0]!r} defined twice", hint="give each [[phases]] a unique name"
        )
    timeouts = base.timeouts + tuple(_timeout_rule(t, source) for t in _tables(data, "timeouts", source))
    comment = _comment_target(data.get("comment"), base.comment, source)
    return Settings(repo, quantile, min_samples, window_days, phases, timeouts, source=source, comment=comment)


def _known_keys(table: dict[str, Any], known: set[str], where: str) -> None:
    """A typo must not pass silently: the first key of ``table`` that is not ``known`` is an error."""
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{where} unknown key {sorted(unknown)[0]!r}", hint=f"known keys: {', '.join(sorted(known))}")


def _typed(data: dict[str, Any], key: str, kind: Any, source: str, default: Any = None) -> Any:
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(
            f"{source}: {key} has the wrong type ({type(value).__name__})", hint=f"see README, Configuration: {key}"
        )
    return value


def _tables(data: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{source}: {key} must be an array of tables", hint=f"write [[{key}]] sections")
    return value


def _regex(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: {where} must be a non-empty string", hint="use a regular expression")
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigError(
            f"{source}: {where} is not a valid regex: {exc}", hint="use single quotes for regex literals in TOML"
        ) from None
    return value


def _phase_rule(table: dict[str, Any], source: str) -> PhaseRule:
    _known_keys(table, _PHASE_KEYS, f"{source}: [[phases]] has")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: a [[phases]] entry has no name", hint='add name = "..."')
    where = f"phase {name!r}"
    timeout = table.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(
            f"{source}: {where} timeout_s must be a positive number", hint="seconds, e.g. timeout_s = 300"
        )
    return PhaseRule(
        name=name,
        start=_regex(table.get("start"), f"{where} start", source),
        end=_regex(table["end"], f"{where} end", source) if "end" in table else None,
        step=_regex(table["step"], f"{where} step", source) if "step" in table else None,
        timeout_s=float(timeout) if timeout is not None else None,
    )


def _timeout_rule(table: dict[str, Any], source: str) -> TimeoutRule:
    _known_keys(table, _TIMEOUT_KEYS, f"{source}: [[timeouts]] has")
    file = table.get("file")
    if not isinstance(file, str) or not file:
        raise ConfigError(f"{source}: a [[timeouts]] entry has no file", hint='add file = "path/in/repo"')
    pattern = _regex(table.get("pattern"), f"timeouts pattern for {file}", source)
    if re.compile(pattern).groups < 1:
        raise ConfigError(
            f"{source}: timeouts pattern {pattern!r} has no group",
            hint=r"wrap the number in a group, e.g. '--timeout=(\d+)s'",
        )
    unit = table.get("unit", "s")
    if unit not in ("s", "m", "ms"):
        raise ConfigError(f"{source}: timeouts unit {unit!r} unknown", hint="use s, m or ms")
    targets = {k: table.get(k) for k in ("phase", "job", "step")}
    for key, value in targets.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{source}: timeouts {key} must be a string", hint="name the unit it limits")
    return TimeoutRule(file=file, pattern=pattern, unit=unit, **targets)


def require_label(label: str, *, where: str = "--label") -> str:
    """``label`` if GitHub can filter by it (non-empty, at most 50 characters, no comma), else a ConfigError."""
    text = label.strip()
    if not text or len(text) > 50 or "," in text:
        raise ConfigError(
            f"{where} {label!r} is not a label to look for", hint='a label of 1 to 50 characters without a comma, e.g. "we-advisor"'
        )
    return text


def _comment_target(table: Any, base: CommentTarget, source: str) -> CommentTarget:
    if table is None:
        return base
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: comment must be a table", hint="write a [comment] section with pr = N or label = \"...\"")
    _known_keys(table, _COMMENT_KEYS, f"{source}: [comment] has")
    pr = table.get("pr", base.pr)
    if "pr" in table and (isinstance(pr, bool) or not isinstance(pr, int) or pr <= 0):
        raise ConfigError(f"{source}: [comment] pr must be a pull request number", hint="e.g. pr = 42 (the number in its URL)")
    label = table.get("label", base.label)
    if not isinstance(label, str):
        raise ConfigError(f"{source}: [comment] label must be a string", hint='e.g. label = "we-advisor"')
    return CommentTarget(pr=pr, label=require_label(label, where=f"{source}: [comment] label"))
