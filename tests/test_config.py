"""we-advisor.toml loading: defaults, rules, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.config import Settings, list_presets, load_settings, settings_from_mapping
from analyzer.errors import ConfigError


def test_absent_default_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No we-advisor.toml in the working directory is fine."""
    monkeypatch.chdir(tmp_path)
    assert load_settings() == Settings()


def test_rules_and_values_are_read(tmp_path: Path) -> None:
    """Phase and timeout rules come through with their fields."""
    path = tmp_path / "we-advisor.toml"
    path.write_text(
        'repo = "jordigilh/kubernaut"\nquantile = 0.95\nmin_samples = 10\n'
        "[[phases]]\nname = \"tekton-wait\"\nstep = \"E2E\"\nstart = 'Waiting for Tekton'\n"
        "end = 'condition met|timed out'\ntimeout_s = 300\n"
        "[[timeouts]]\nphase = \"tekton-wait\"\nfile = \"x.go\"\npattern = '--timeout=(\\d+)s'\n"
    )
    settings = load_settings(path)
    assert (settings.repo, settings.quantile, settings.min_samples) == ("jordigilh/kubernaut", 0.95, 10)
    assert settings.phases[0].name == "tekton-wait"
    assert settings.phases[0].timeout_s == 300.0
    assert settings.timeouts[0].pattern == r"--timeout=(\d+)s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("repo = ", "is not valid TOML"),
        ("colour = 1", "unknown key 'colour'"),
        ("quantile = 2", "quantile 2.0 out of range"),
        ("quantile = 'high'", "quantile has the wrong type"),
        ("repo = 'no-slash'", "is not OWNER/NAME"),
        ("[[phases]]\nname = 'a'\nstart = '('", "phase 'a' start is not a valid regex"),
        ("[[phases]]\nstart = 'x'", "a [[phases]] entry has no name"),
        ("[[phases]]\nname='a'\nstart='x'\n[[phases]]\nname='a'\nstart='y'", "phase 'a' defined twice"),
        ("[[timeouts]]\nfile='a.go'\npattern='--timeout=\\d+'", "has no group"),
        ("preset = 'nope'", "unknown preset 'nope'"),
        ("comment = 7", "comment must be a table"),
        ("[comment]\nprr = 7", "[comment] has unknown key 'prr'"),
        ("[comment]\npr = 0", "[comment] pr must be a pull request number"),
        ("[comment]\npr = '7'", "[comment] pr must be a pull request number"),
        ("[comment]\npr = true", "[comment] pr must be a pull request number"),
        ("[comment]\nlabel = ''", "[comment] label '' is not a label to look for"),
        ("[comment]\nlabel = 'a,b'", "[comment] label 'a,b' is not a label to look for"),
        ("[comment]\nlabel = 3", "[comment] label must be a string"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    """Every mistake in we-advisor.toml is a ConfigError naming it, with a hint."""
    path = tmp_path / "we-advisor.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in info.value.message
    assert info.value.hint
    assert "\n" not in info.value.message


def test_binary_config(tmp_path: Path) -> None:
    """A config file that is not text is refused."""
    path = tmp_path / "we-advisor.toml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_explicit_missing_config(tmp_path: Path) -> None:
    """--config naming a missing file is an error (a silent default would hide a typo)."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_kubernaut_preset_ships() -> None:
    """The seed project's preset is packaged and loads."""
    assert "kubernaut-e2e" in list_presets()
    settings = settings_from_mapping({"preset": "kubernaut-e2e"})
    assert any(rule.timeout_s == 300 for rule in settings.phases)


def test_the_comment_section(tmp_path: Path) -> None:
    """[comment]: the pull request of the weekly comment, or the label to find it by (default we-advisor)."""
    assert (Settings().comment.pr, Settings().comment.label) == (None, "we-advisor")
    path = tmp_path / "we-advisor.toml"
    path.write_text('[comment]\npr = 42\nlabel = " ci report "\n')
    settings = load_settings(path)
    assert (settings.comment.pr, settings.comment.label) == (42, "ci report")
    path.write_text("[comment]\n")
    assert load_settings(path).comment == Settings().comment
