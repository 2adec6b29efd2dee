"""A deterministic, realistic sample history of the seed project's CI, in GitHub REST shapes.

``generate_sample`` writes an export directory (``data/sample/`` in the repository) that both
``we-advisor ingest`` and the tests' fake GitHub server read. It models six weeks of a Kubernetes
operator's "E2E WorkflowExecution" workflow (Kind, Tekton, PostgreSQL, Redis, Data Storage,
controller: the setup that ``shared/seed`` describes) plus a smaller "Unit tests" workflow:
heavy-tailed phase durations, a Tekton controller wait whose true duration exceeds its 300 s limit
in roughly one run in ten, a slower week, reruns, job and step timeouts, concurrency cancels and a
lost runner.

Determinism: one ``random.Random(seed)`` drives everything, times are integer ticks of 100 ns
counted from ``end``, JSON is written with sorted keys and ``\\n`` newlines, and logs are gzipped
with ``mtime=0``. The same arguments give the same bytes (with the same zlib).

Modules: ``scenario`` (the modelled project), ``text`` (timestamped log lines), ``setup`` and
``suites`` (the steps' log text), ``history`` (runs, attempts, jobs), ``shapes`` (REST JSON),
``export`` (the folder written).
"""

from analyzer.demo.sample.export import generate_sample
from analyzer.demo.sample.scenario import DEFAULT_END, E2E_WORKFLOW, TEKTON_TIMEOUT_LINE, SampleSummary

__all__ = ["DEFAULT_END", "E2E_WORKFLOW", "TEKTON_TIMEOUT_LINE", "SampleSummary", "generate_sample"]
