"""Commands load only what they use: ``ingest`` and ``fetch`` never import pandas or scikit-learn
(importing them is a third of a small command's time), the analysis commands do.

Each command runs in a fresh interpreter through the real entry point (``analyzer.cli.main``); the
same process then lists the top-level packages in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest

from tests.fake_github import REPO_NAME, ROOT, SINCE, TOKEN, FakeGitHub, build_export

HEAVY = ("pandas", "sklearn", "scipy")
JOB_LOG = (  # a job log of one step, for the commands to ingest
    "2026-03-02T10:00:00.0000000Z Current runner version: '2.323.0'\n"
    "2026-03-02T10:00:01.0000000Z ##[group]Run make e2e\n"
    "2026-03-02T10:00:05.0000000Z Cleaning up orphan processes\n"
)
# the modules are listed from an atexit function, which runs however the process ends (the script's entry point
# ends an analysis's or ingest's process without returning: ``analyzer.__main__.console_main``)
_PROBE = """
import atexit, json, os, sys
if os.environ.get("PROBE_IMPORT_FIRST"):  # a process that imported pandas before the entry point ran
    import pandas
from analyzer.cli import main
atexit.register(lambda: print(json.dumps({"modules": sorted({m.split(".")[0] for m in sys.modules})})))
sys.argv = ["we-advisor", *sys.argv[1:]]
main()
"""


def loaded(args: list[str], cwd: Path, **env: str) -> set[str]:
    """The top-level packages imported by ``we-advisor ARGS`` (which must succeed)."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_TOKEN": "", "GH_TOKEN": "", **env}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1])["modules"])


@pytest.mark.timeout(240)
def test_ingest_and_fetch_do_not_import_pandas_or_scikit_learn(tmp_path: Path) -> None:
    """``ingest`` of a log and ``fetch`` from the fake GitHub leave pandas, scikit-learn and scipy
    unimported; ``stats`` on the same store does import pandas (so the probe can see it)."""
    log = tmp_path / "job.txt"
    log.write_text(JOB_LOG, encoding="utf-8")
    store = tmp_path / "s.db"
    assert not loaded(["ingest", str(log), "--store", str(store)], tmp_path) & set(HEAVY)
    with FakeGitHub(build_export(tmp_path / "export", runs=3, jobs_per_run=2)) as fake:
        args = ["fetch", "--repo", fake.data.full_name, "--since", SINCE, "--api-url", fake.url, "--store", str(store)]
        modules = loaded(args, tmp_path, GITHUB_TOKEN=TOKEN)
    assert "github" in modules  # the probe sees what a command imported
    assert not modules & set(HEAVY)
    assert "pandas" in loaded(["stats", "--store", str(store), "--since", "3650d", "--repo", REPO_NAME], tmp_path)


_ENDS = """
import atexit, sys, threading
mode = sys.argv[1]
atexit.register(lambda: print("atexit ran"))  # buffered: out only if stdout is flushed after the atexit functions
if mode == "thread":  # a thread that ends once the main thread has (what Python waits for at exit)
    threading.Thread(target=lambda: (threading.main_thread().join(), sys.__stderr__.write("thread done\\n"))).start()
if mode == "profiled":  # a profiler (``python -m cProfile`` writes its results after the script returns)
    sys.setprofile(lambda *args: None)
import analyzer.cli
sys.argv = ["we-advisor", *sys.argv[2:]]
try:
    if mode == "module":  # python -m analyzer
        import runpy
        runpy.run_module("analyzer", run_name="__main__")
    elif mode == "main":  # a caller of main itself: it gets the SystemExit and goes on
        try:
            analyzer.cli.main()
        except SystemExit as exc:
            print(f"caller goes on after {exc.code}")
    else:
        from analyzer.__main__ import console_main
        console_main()
except SystemExit:  # the usual end: Python then tears the heap down
    sys.__stderr__.write("usual end\\n")
    raise
"""


def test_analyses_and_ingest_end_without_teardown_and_lose_nothing(tmp_path: Path) -> None:
    """An analysis or ``ingest`` started from the script's entry point (``analyzer.__main__.console_main``, or
    ``python -m analyzer``) ends its process without tearing its heap down (``cli.lean.end_process``), yet as Python would
    otherwise: the atexit functions ran, stdout was flushed whole, the exit status and error lines are the
    command's, the store holds what it wrote. Other commands, a process with another thread still running, one
    under a profiler or asked to inspect (``python -i``), and a caller of ``cli.main`` end the usual way."""
    log = tmp_path / "job.txt"
    log.write_text(JOB_LOG, encoding="utf-8")
    store, plan = tmp_path / "s.db", tmp_path / "plan.toml"
    plan.write_text('[[task]]\nname = "a"\nrun = "true"\n', encoding="utf-8")
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_TOKEN": "", "GH_TOKEN": ""}
    environ.pop("PYTHONUNBUFFERED", None)  # stdout buffered, as it is in a pipe

    def run(mode: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", _ENDS, mode, *args], cwd=tmp_path, env={**environ, **env},
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip

    def quick(done: subprocess.CompletedProcess[str]) -> bool:
        assert done.stdout.endswith("atexit ran\n"), (done.stdout[-200:], done.stderr)
        return "usual end" not in done.stderr

    def output(done: subprocess.CompletedProcess[str]) -> Any:
        return json.loads(done.stdout.removesuffix("atexit ran\n"))

    ingested = run("-", "ingest", str(log), "--store", str(store))
    assert ingested.returncode == 0 and quick(ingested), ingested.stderr
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
    stats = run("-", "stats", "--format", "json", "--store", str(store), "--since", "3650d")
    assert stats.returncode == 0 and quick(stats), stats.stderr
    assert [row["samples"] for row in output(stats) if row["scope"] == "job"] == [1]  # all of it, flushed
    failed = run("-", "stats", "--store", str(tmp_path / "none.db"))
    assert failed.returncode == 1 and quick(failed)
    assert [line.split(":")[0] for line in failed.stderr.splitlines() if ": " in line] == ["error", "hint"]
    threaded = run("thread", "stats", "--format", "json", "--store", str(store), "--since", "3650d")
    assert threaded.returncode == 0 and not quick(threaded) and "thread done" in threaded.stderr
    assert output(threaded) == output(stats)
    profiled = run("profiled", "stats", "--format", "json", "--store", str(store), "--since", "3650d")
    assert profiled.returncode == 0 and not quick(profiled) and output(profiled) == output(stats)
    inspected = run("-", "stats", "--format", "json", "--store", str(store), "--since", "3650d", PYTHONINSPECT="1")
    assert not quick(inspected)  # python -i: the interpreter stays, to be inspected (stdin is empty: it ends)
    module = run("module", "stats", "--format", "json", "--store", str(store), "--since", "3650d")
    assert module.returncode == 0 and quick(module) and output(module) == output(stats)
    # stdout a pipe nobody reads (`| true`): flushing what the atexit function printed fails, and the status is 120
    # as Python gives it (ingest itself writes to stderr only)
    closed = subprocess.Popen([sys.executable, "-c", _ENDS, "-", "ingest", str(log), "--store", str(store)], cwd=tmp_path,
                              env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert closed.stdout is not None and closed.stderr is not None
    closed.stdout.close()
    assert closed.wait(timeout=120) == 120 and "usual end" not in closed.stderr.read().decode()
    closed.stderr.close()
    for args in (["stats", "--format", "json", "--store", str(store), "--since", "3650d"], ["ingest", str(log), "--store", str(store)]):
        called = run("main", *args)  # a wrapper that calls main: the SystemExit is its to catch, the process its own
        assert called.returncode == 0 and "caller goes on after 0\natexit ran\n" in called.stdout, called.stderr
    for args in (["--version"], ["bootstrap", "plan", str(plan), "--store", str(store)]):
        done = run("-", *args)
        assert done.returncode == 0 and not quick(done), (args, done.stderr)


def _coercion_active() -> bool:
    import analyzer.cli  # noqa: F401  (installs it)
    from analyzer.cli import coercion

    return coercion.active()


# ``cli.coercion`` reaches into typer's private ``_coercion`` module (typer 0.29): with another typer it
# switches itself off and we-advisor converts through pydantic as before. Its tests then have nothing to
# check: they skip, saying so, rather than turn CI red on a typer release (results are the same either way).
needs_coercion = pytest.mark.skipif(
    not _coercion_active(), reason="cli.coercion is off with this typer (its private _coercion changed): update it"
)


def _lean_commands(tmp_path: Path) -> dict[str, set[str]]:
    """The modules ``--version``, ``--help``, ``stats --help``, ``ingest`` of a small log and ``stats``
    load, by command."""
    log = tmp_path / "job.txt"
    log.write_text("2026-03-02T10:00:00.0000000Z Current runner version: '2.323.0'\n", encoding="utf-8")
    store = str(tmp_path / "s.db")
    out = {" ".join(args): loaded(args, tmp_path) for args in (["--version"], ["--help"], ["stats", "--help"])}
    out["ingest"] = loaded(["ingest", str(log), "--store", store], tmp_path)
    (tmp_path / "we-advisor.toml").write_text("", encoding="utf-8")
    out["stats"] = loaded(["stats", "--store", store, "--since", "3650d", "--format", "json", "--config",
                           str(tmp_path / "we-advisor.toml")], tmp_path)  # fmt: skip
    return out


def test_lean_commands_do_not_import_numpy_or_pandas(tmp_path: Path) -> None:
    """``--version``, ``--help`` and ``ingest`` of a small log (its line times read in plain Python)
    import neither numpy nor pandas; ``stats`` does."""
    modules = _lean_commands(tmp_path)
    for command in ("--version", "--help", "stats --help", "ingest"):
        assert not modules[command] & {"pandas", "numpy"}, command
    assert "pandas" in modules["stats"]


def test_recommend_fits_its_tails_without_scipy(tmp_path: Path) -> None:
    """The tails' normal functions come from ``model.normal`` (numpy and ``math``): ``recommend`` on a
    2,000-run history fits log-normal, Weibull and GPD tails and imports no scipy (0.23 s of CPU)."""
    from analyzer.config import load_settings
    from tests.loadgen import write_store

    config = tmp_path / "we-advisor.toml"
    config.write_text('repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n', encoding="utf-8")
    store = tmp_path / "load.db"
    write_store(store, 2000, rules=load_settings(config).phases)
    args = ["recommend", "--store", str(store), "--config", str(config), "--format", "json", "--output",
            str(tmp_path / "r.json")]  # fmt: skip
    modules = loaded(args, tmp_path)
    assert "pandas" in modules and "scipy" not in modules
    bases = {r["basis"] for r in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["recommendations"]}
    assert {"tail:lognormal", "tail:weibull", "tail:gpd"} <= bases, bases


@needs_coercion
def test_no_command_imports_pydantic(tmp_path: Path) -> None:
    """typer converts option values through pydantic; ``cli.coercion`` does it for every option of
    we-advisor, so no command imports pydantic."""
    for command, modules in _lean_commands(tmp_path).items():
        assert not modules & {"pydantic", "pydantic_core"}, command


def _samples(annotation: Any, tmp: Path) -> list[Any]:
    """Values typer may hand an option of ``annotation``: typical, edge and wrong ones."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        one = _samples(item, tmp)
        return [[], one[:1], one[:3], tuple(one[:2]), "x", None, one]
    if annotation is str:
        return ["", "x", "a\udcffb", " 4 ", b"bytes", 4, None]
    if annotation is bool:
        return [True, False, "true", "0", 1, None]
    if annotation in (int, float):
        return ["4", "+4", "-0", "04", " 4", "4.0", "1_000", "1e3", ".5", "5.", "inf", "nan", "x", "", "0", "64", "65",
                "100000", "100001", "٤", "9" * 400, "-" + "9" * 400, "9" * 5000, "0" * 50 + "1",
                0, 4, 65, 2.5, 300.0, float("nan"), float("inf"), -float("inf"), True, None]  # fmt: skip
    if annotation is Path:
        (tmp / "file").write_text("x", encoding="utf-8")
        return ["", "x", "-", str(tmp), str(tmp / "file"), "a\udcffb", Path("y"), b"bytes", 4, None]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        first = next(iter(annotation))
        return [first, first.value, first.value.upper(), "nope", "", 4, None]
    raise AssertionError(f"no samples for {annotation!r}")


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, str]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # the adapter's error: its type and message
        return f"error {type(exc).__name__}", str(exc)
    return type(result).__name__, repr(result)


@needs_coercion
def test_option_values_convert_as_typers_adapters_do(tmp_path: Path) -> None:
    """Every option of every command, for typical, edge and wrong values: ``cli.coercion`` gives what
    typer's pydantic adapters give (the same value and type, or the same error and message)."""
    import typer.core
    from typer._coercion import build_runtime_param
    from typer.core import TyperGroup
    from typer.main import get_command

    import analyzer.cli

    assert typer.core.build_runtime_param is not build_runtime_param  # installed

    def commands(group: Any) -> Any:
        for command in group.commands.values():
            yield from commands(command) if isinstance(command, TyperGroup) else [command]

    checked = 0
    for command in [get_command(analyzer.cli.app), *commands(get_command(analyzer.cli.app))]:
        ctx = command.context_class(command)
        for param in command.params:
            lean = typer.core.build_runtime_param(param.type_descriptor)
            assert type(lean).__name__ == "Lean", (command.name, param.name)  # every option of we-advisor
            adapter = build_runtime_param(param.type_descriptor)
            for value in _samples(param.type_descriptor.annotation, tmp_path):
                expected = _outcome(adapter, value, param, ctx)
                assert _outcome(lean, value, param, ctx) == expected, (command.name, param.name, value)
                checked += 1
    assert checked > 500


_LEAN = """
import copy, importlib, importlib.resources, importlib.util, json, sys, threading
from analyzer.cli import lean
from analyzer.cli.lean import LeanImports, lean_imports
installed = lean_imports()
import pandas
import scipy.sparse
lazy = [type(sys.modules[m]).__name__ for m in ("numpy.f2py", "numpy.testing")], "charset_normalizer" in sys.modules
import numpy.testing
numpy.testing.assert_equal(1, 1)  # used: loaded
used = type(sys.modules["numpy.testing"]).__name__
import pandas.compat.pyarrow as compat
hidden = "pyarrow" in sys.modules
loader = type(pandas.__loader__).__name__, type(pandas.__spec__.loader).__name__
resources = sorted(p.name for p in importlib.resources.files("pandas").iterdir())[:3]
wrapped = importlib.util.find_spec("pandas.io.formats.style")  # not imported yet: found through the hook
copied = type(copy.copy(wrapped.loader)).__name__
# while a thread executes a pandas module, pyarrow is hidden from that thread only
lean._executing.depth = 1
try:
    importlib.import_module("pyarrow")
    this_thread = "imported"
except ModuleNotFoundError:
    this_thread = "hidden"
other = []
thread = threading.Thread(target=lambda: other.append(importlib.import_module("pyarrow").__version__))
thread.start()
thread.join()
lean._executing.depth = 0
import pyarrow  # the Parquet export imports it itself: it is there
print(json.dumps({"installed": installed, "again": lean_imports(), "hidden": hidden, "lazy": lazy, "used": used,
                  "has_pyarrow": compat.HAS_PYARROW, "loader": loader, "resources": resources, "copied": copied,
                  "this_thread": this_thread, "other_thread": other, "pyarrow": pyarrow.__version__,
                  "still_no_pyarrow": compat.HAS_PYARROW, "first": sys.meta_path[0] is LeanImports}))
"""


def test_the_entry_point_imports_pandas_as_without_pyarrow(tmp_path: Path) -> None:
    """pandas imports pyarrow whenever it is installed (38 MB of libraries); in a process of the command line
    it loads as where pyarrow is not installed, keeps its own loader and resources, pyarrow is hidden only from
    a thread executing a pandas module, and pyarrow itself can still be imported (by the Parquet export);
    ``scipy.sparse`` leaves numpy's f2py and testing lazy until used. A process that imported pandas first is
    left as it is."""
    pytest.importorskip("pyarrow")  # without it there is nothing to hide
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _LEAN], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["installed"] and seen["again"] and seen["first"]
    assert not seen["hidden"] and seen["has_pyarrow"] is False
    assert seen["loader"] == ["SourceFileLoader", "SourceFileLoader"] and seen["resources"] and seen["pyarrow"]
    assert seen["copied"] == "_Loader"  # a copy of a hooked loader (no recursion into its missing attribute)
    assert seen["this_thread"] == "hidden" and seen["other_thread"] == [seen["pyarrow"]]
    assert seen["still_no_pyarrow"] is False  # pandas keeps the setup it chose; nothing of ours uses its Arrow dtypes
    # scipy.sparse's copy of numpy's namespace leaves f2py and testing unexecuted until used
    assert seen["lazy"] == [["_LazyModule", "_LazyModule"], False] and seen["used"] == "module"
    # pyarrow imported first (the Parquet export), then pandas (its columns cache): pandas sees pyarrow, whole
    first = ("from analyzer.cli.lean import lean_imports; lean_imports(); import pyarrow, pandas, pandas.compat.pyarrow as c; "
             "print(c.HAS_PYARROW, type(pandas.array(['a'], dtype='string[pyarrow]')).__name__)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", first], env=environ, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "ArrowStringArray"], done.stderr
    already = "import pandas, sys; from analyzer.cli.lean import lean_imports as h; print(h(), 'pyarrow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", already], env=environ, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "True"], done.stderr


@pytest.mark.timeout(300)
def test_analysis_commands_leave_pyarrow_unloaded_and_answer_the_same(tmp_path: Path) -> None:
    """``stats``, ``recommend`` and ``report`` through the entry point import pandas but not pyarrow, and
    ``recommend`` and ``report`` write what they write in a process whose pandas has pyarrow; ``export``
    imports pyarrow and writes the same Parquet files either way."""
    pytest.importorskip("pyarrow")
    from analyzer.config import load_settings
    from tests.loadgen import write_store

    config = tmp_path / "we-advisor.toml"
    config.write_text('repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n', encoding="utf-8")
    store = tmp_path / "load.db"
    write_store(store, 600, rules=load_settings(config).phases)
    common = ["--store", str(store), "--config", str(config)]
    outputs: dict[str, list[str]] = {}
    for side, env in (("lean", {}), ("arrow", {"PROBE_IMPORT_FIRST": "1"})):
        out = tmp_path / side
        out.mkdir()
        commands = {  # export first: on a new store it imports pyarrow, then pandas (to write the columns cache)
            "export": ["export", str(out / "warehouse")],
            "stats": ["stats", "--format", "json"],
            "recommend": ["recommend", "--format", "json", "--output", str(out / "recommend.json")],
            "report": ["report", "--html", str(out / "report.html"), "--markdown", str(out / "weekly.md")],
        }
        for name, args in commands.items():
            modules = loaded([*args, *common], tmp_path, **env)
            assert "pandas" in modules or name == "export", (side, name)
            assert ("pyarrow" in modules) == (side == "arrow" or name == "export"), (side, name)
            if name == "report":  # its failure signatures import scipy.sparse, which would execute numpy.f2py
                assert "scipy" in modules and ("charset_normalizer" in modules) == (side == "arrow"), side
        generated = re.compile(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ|[Gg]enerated [^<\n]*")  # (the Markdown: "Generated … UTC", to the minute)
        outputs[side] = [
            generated.sub("", (out / name).read_text(encoding="utf-8"))
            for name in ("recommend.json", "report.html", "weekly.md")
        ]
        outputs[side] += sorted(
            f"{p.relative_to(out)} {p.read_bytes().hex() if p.suffix == '.parquet' else ''}"
            for p in out.rglob("*.parquet")
        )
    assert len(outputs["lean"]) > 3 and outputs["lean"] == outputs["arrow"]


def test_analyses_collect_cyclic_garbage_less_often_and_other_processes_keep_their_setting(tmp_path: Path) -> None:
    """An analysis (and ``ingest``) started from the entry point sets the young generation's threshold to
    ``YOUNG_COLLECTION`` (100,000; CPython's is 700 or 2,000), keeps a higher one and leaves the older
    generations' as they are; ``--version`` (no command) and ``bootstrap plan`` keep Python's, and so does a
    process that runs the same command without the entry point (a library caller, the tests' ``CliRunner``)."""
    from analyzer.cli.lean import YOUNG_COLLECTION

    probe = (
        "import atexit, gc, json, sys\n"
        "gc.set_threshold(int(sys.argv[1]), 7, 9)\n"
        "import analyzer.cli\n"
        "from typer.testing import CliRunner\n"
        "in_process = CliRunner().invoke(analyzer.cli.app, sys.argv[2:]).exit_code\n"
        "runner = list(gc.get_threshold())\n"
        "atexit.register(lambda: print(json.dumps([in_process, runner, list(gc.get_threshold())])))\n"
        "sys.argv = ['we-advisor', *sys.argv[2:]]\n"
        "analyzer.cli.main()\n"
    )
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    plan = tmp_path / "plan.toml"
    plan.write_text('[[task]]\nname = "a"\nrun = "true"\n', encoding="utf-8")
    store = str(tmp_path / "none.db")  # no store: the analysis stops with its error after setting up
    cases = [
        (700, ["stats", "--store", store], YOUNG_COLLECTION),
        (700, ["ingest", str(tmp_path / "missing.log"), "--store", store], YOUNG_COLLECTION),
        (2 * YOUNG_COLLECTION, ["report", "--store", store], 2 * YOUNG_COLLECTION),
        (700, ["--version"], 700),
        (700, ["bootstrap", "plan", str(plan), "--store", store], 700),
    ]
    for before, args, after in cases:
        done = subprocess.run(
            [sys.executable, "-c", probe, str(before), *args], env=environ, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == (1 if args[0] in ("stats", "ingest", "report") else 0), done.stderr  # (no store)
        _, runner, entry = json.loads(done.stdout.strip().splitlines()[-1])
        assert runner == [before, 7, 9] and entry == [after, 7, 9], (args, done.stdout)
