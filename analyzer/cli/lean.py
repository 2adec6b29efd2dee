"""Lean imports for every we-advisor command: pandas as a plain install has it (without pyarrow), and
numpy's ``f2py`` and ``testing`` loaded only if used; and, for the analyses and ``ingest``, fewer cyclic
garbage collections (``fewer_collections``) and an end without tearing the heap down (``end_process``).

pandas imports pyarrow whenever it is installed (``pandas.compat.pyarrow``, pandas 2 and 3), for its
Arrow-backed dtypes. we-advisor's analysis uses none of them: the store gives text as codes or Python
strings, and pyarrow is an optional dependency (``we-advisor[parquet]``), imported by
``present/parquet.py`` alone. Loaded anyway, it cost every analysis command 38 MB of resident memory
for its libraries, and pandas then turned SQL text into Arrow strings: at 100,000 runs ``report``'s peak
RSS went 470 → 394 MB, ``recommend``'s 350 → 302 MB, and at 10,000 runs ``recommend`` 0.89 → 0.82 s
(``benchmarks/README.md``, issue 15), with the same output.

scipy's array-API layer (imported with ``scipy.sparse``, which the failure signatures use) copies
numpy's namespace attribute by attribute, which imports ``numpy.f2py`` (and with it
``charset_normalizer``) and ``numpy.testing``: 65 ms of the 100 ms ``scipy.sparse`` takes to import,
for modules nothing calls. They are imported lazily (``importlib.util.LazyLoader``): a module object
at once, executed on first use of one of its attributes. (Before Python 3.12.3 a first use from two
threads at once can fail, gh-114763; nothing in we-advisor uses either module, in any thread.)

So the entry point (``main``) installs ``LeanImports`` (``lean_imports``): while a thread executes a pandas
module, its ``import pyarrow`` fails as it does where pyarrow is not installed, and pandas sets itself up
for that case, which is tested (``.ci/run``'s second pandas). Nothing else changes: other threads, and the
Parquet export, import pyarrow and get it. Once pyarrow is imported, pandas modules imported after it see
it: all of pandas when the export imported pyarrow first, else the late ones only, while pandas itself still
reports no pyarrow (its Arrow dtypes raise): nothing in we-advisor uses them.
A process that imported pandas or pyarrow before (a library user, the tests' own process) keeps pandas as
it is.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from collections.abc import Sequence
from importlib.abc import Loader
from importlib.machinery import ModuleSpec
from importlib.util import LazyLoader
from types import ModuleType
from typing import Any

HIDDEN = "pyarrow"
LAZY = frozenset({"numpy.f2py", "numpy.testing"})  # executed on first use
_executing = threading.local()  # per thread: how many pandas modules it is executing (nested imports)


class _Loader(Loader):
    """A pandas module's loader: executes it with pyarrow hidden from this thread (the real loader otherwise)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, …: the real loader's
        if name == "loader":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader  # the module keeps its own loader (importlib.resources asks it)
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        _executing.depth = getattr(_executing, "depth", 0) + 1
        try:
            self.loader.exec_module(module)
        finally:
            _executing.depth -= 1


class LeanImports:
    """A ``sys.meta_path`` finder: pandas' modules, found by the finders after it, loaded by ``_Loader``; no
    pyarrow for a thread executing one of them; ``LAZY`` modules loaded by ``importlib.util.LazyLoader``."""

    @classmethod
    def find_spec(
        cls, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == HIDDEN or name.startswith(HIDDEN + "."):
            # hidden only while pyarrow itself is not imported: once it is (the Parquet export imports it first),
            # pandas imported after it sees all of it, or its own modules would fail to import
            if getattr(_executing, "depth", 0) and HIDDEN not in sys.modules:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden from pandas)", name=name)
            return None
        if name != "pandas" and not name.startswith("pandas.") and name not in LAZY:
            return None
        spec = cls._others(name, path, target)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = LazyLoader(spec.loader) if name in LAZY else _Loader(spec.loader)
        return spec

    @classmethod
    def _others(cls, name: str, path: Sequence[str] | None, target: ModuleType | None) -> ModuleSpec | None:
        """The spec the finders after this one give."""
        after = sys.meta_path[sys.meta_path.index(cls) + 1 :] if cls in sys.meta_path else []
        for finder in after:
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = find(name, path, target) if find is not None else None
            if spec is not None:
                return spec
        return None


def lean_imports() -> bool:
    """Install ``LeanImports`` first in ``sys.meta_path``, unless pandas, pyarrow or numpy is imported already
    (then there is little to gain, and pandas stays consistent); True if installed."""
    if LeanImports in sys.meta_path:
        return True
    if {"pandas", HIDDEN, "numpy"} & sys.modules.keys():
        return False
    sys.meta_path.insert(0, LeanImports)
    return True


# Objects allocated (net) between two collections of the youngest generation: CPython's default is 700 (2,000
# from 3.13), so reading 10⁵ attempts, incidents or job rows runs hundreds of collections, and every few of
# them a full one over all that is alive (benchmarks/README.md, issue 15: at 100,000 runs ``report`` spent
# 0.16 s collecting; 0.04 s with this). Garbage in reference cycles waits a little longer: the peak RSS of
# ``report``, ``recommend``, ``stats`` (10⁴ and 10⁵ runs) and ``ingest`` stayed the same. Measured on 3.11;
# 3.14's incremental collector reads the threshold differently.
YOUNG_COLLECTION = 100_000
_ENTRY_POINT = [False]  # set by ``cli.main``: this process is a command's own
_QUICK_END = [False]  # set by ``fewer_collections``: the command's process may end without tearing its heap down


def command_process() -> None:
    """Say that this process runs a command from the entry point (``cli.main``), so that settings of the whole
    process (``fewer_collections``) are ours to make; a library caller's process, or the tests', is not."""
    _ENTRY_POINT[0] = True


def fewer_collections() -> None:
    """For the commands whose memory and time were measured with it (the analyses and ``ingest``), in a
    command's own process: cyclic garbage collected every ``YOUNG_COLLECTION`` allocations, not every few
    hundred (a higher threshold is kept), and an end without teardown (``end_process``). Long-running commands
    (``fetch``, ``bootstrap run``) keep Python's."""
    if not _ENTRY_POINT[0]:
        return
    _QUICK_END[0] = True
    if gc.get_threshold()[0] < YOUNG_COLLECTION:
        gc.set_threshold(YOUNG_COLLECTION)


def end_process(exc: SystemExit) -> None:
    """How a command's own process ends (``analyzer.__main__.console_main``, with the ``SystemExit`` the command
    ended with).

    After an analysis or ``ingest`` (``fewer_collections``) the heap holds 10⁵–10⁶ objects (frames, records,
    the parse's results); freeing them one by one as the interpreter shuts down took 0.13 s of ``report``'s
    2.5 s at 100,000 runs, 0.08 s of ``ingest`` of a 100 MB log (``benchmarks/README.md``, issue 15). So
    such a process ends as Python would, minus that: the ``atexit`` functions run (logging's flush,
    ``weakref.finalize``, a caller's own), stdout and stderr are flushed, then ``os._exit`` with the same
    exit status (``SystemExit``'s rules; 120 if flushing an open stdout or stderr fails, as Python does). Every
    file and store a command opens is closed by then (``with`` blocks); the operating system takes the memory
    back at once. Any other command, a process with another thread still running (Python would wait for it),
    one under a profiler or tracer (``python -m cProfile``, coverage, a debugger: they write their results after
    the script returns) or asked to inspect after it (``python -i``, ``PYTHONINSPECT``), and a process that is
    not a command's own (``command_process``) end the usual way: ``exc`` is raised again."""
    watched = sys.getprofile() is not None or sys.gettrace() is not None
    inspect = bool(sys.flags.inspect or os.environ.get("PYTHONINSPECT"))
    if not (_ENTRY_POINT[0] and _QUICK_END[0]) or threading.active_count() > 1 or watched or inspect:
        raise exc
    code = exc.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # SystemExit("message"): printed on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):  # as Python's flush_std_files: a closed stream is left alone
        if stream is None or getattr(stream, "closed", False):
            continue
        try:
            stream.flush()
        except Exception:  # a closed pipe (`| head`): Python's status then is 120, whatever it was
            status = 120
    os._exit(status)
