"""Commands load only what they use: ``ingest`` and ``fetch`` never import pandas or scikit-learn
(importing them is a third of a small command's time), the analysis commands do.

Each command runs in a fresh interpreter through the real entry point (``analyzer.cli.main``); the
same process then lists the top-level packages in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_github import REPO_NAME, ROOT, SINCE, TOKEN, FakeGitHub, build_export

HEAVY = ("pandas", "sklearn", "scipy")
_PROBE = """
import json, sys
from analyzer.cli import main
sys.argv = ["we-advisor", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def loaded(args: list[str], cwd: Path, **env: str) -> set[str]:
    """The top-level packages imported by ``we-advisor ARGS`` (which must succeed)."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_TOKEN": "", "GH_TOKEN": "", **env}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["code"] in (0, None), done.stderr
    return set(answer["modules"])


@pytest.mark.timeout(240)
def test_ingest_and_fetch_do_not_import_pandas_or_scikit_learn(tmp_path: Path) -> None:
    """``ingest`` of a log and ``fetch`` from the fake GitHub leave pandas, scikit-learn and scipy
    unimported; ``stats`` on the same store does import pandas (so the probe can see it)."""
    log = tmp_path / "job.txt"
    log.write_text(
        "2026-03-02T10:00:00.0000000Z Current runner version: '2.323.0'\n"
        "2026-03-02T10:00:01.0000000Z ##[group]Run make e2e\n"
        "2026-03-02T10:00:05.0000000Z Cleaning up orphan processes\n",
        encoding="utf-8",
    )
    store = tmp_path / "s.db"
    assert not loaded(["ingest", str(log), "--store", str(store)], tmp_path) & set(HEAVY)
    with FakeGitHub(build_export(tmp_path / "export", runs=3, jobs_per_run=2)) as fake:
        args = ["fetch", "--repo", fake.data.full_name, "--since", SINCE, "--api-url", fake.url, "--store", str(store)]
        modules = loaded(args, tmp_path, GITHUB_TOKEN=TOKEN)
    assert "github" in modules  # the probe sees what a command imported
    assert not modules & set(HEAVY)
    assert "pandas" in loaded(["stats", "--store", str(store), "--since", "3650d", "--repo", REPO_NAME], tmp_path)
