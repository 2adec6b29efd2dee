"""Ingest of many logs with worker processes (``collect.prefetch``) against the same ingest in one process:
the same rows in every table, the same warnings in the same order, whatever a worker does."""

from __future__ import annotations

import gzip
import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analyzer.collect import prefetch
from analyzer.collect.ingest import ingest_paths
from analyzer.errors import InputError
from analyzer.records import Job, LogPart
from analyzer.store import Store, codec
from tests.test_inputs import _archive

SAMPLE_LOGS = Path(__file__).resolve().parents[1] / "data" / "sample" / "logs"
WHEN = {"saved_at", "parsed_at", "ingested_at"}  # when the ingest ran: the only columns that may differ

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes are forked")


def _folder(root: Path, count: int = 40) -> Path:
    """Sample job logs (failures, timeouts, passes), a copy of one, an unzipped run-log archive, a zip
    and a file that is no job log."""
    root.mkdir(parents=True, exist_ok=True)
    logs = sorted(SAMPLE_LOGS.glob("*.txt.gz"))[:count]
    for path in logs:
        (root / path.name.removesuffix(".gz")).write_bytes(gzip.decompress(path.read_bytes()))
    (root / "copy-of-first.txt").write_bytes(gzip.decompress(logs[0].read_bytes()))
    _archive(root / "unzipped", root / "run.zip")
    (root / "notes.txt").write_text("not a job log\n", encoding="utf-8")
    (root / "latin-1.txt").write_bytes("2025-10-09T08:26:40.0000000Z caf\xe9\n".encode("latin-1"))
    (root / "binary.txt").write_bytes(bytes(range(256)) * 4)
    return root


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        out = {}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in WHEN]
            out[table] = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid").fetchall()
        return out
    finally:
        conn.close()


def _ingest(db: Path | str, paths: list[Path]) -> tuple[str, list[str]]:
    warnings: list[str] = []
    with Store(db) as store:
        summary = ingest_paths(store, paths, on_warning=warnings.append)
    return summary.line(), warnings


@pytest.fixture
def pooled(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Worker processes for any number of jobs (on a machine of any size), and how many jobs they handed over."""
    monkeypatch.setattr(prefetch, "MIN_BYTES", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    taken = {"prepared": 0, "asked": 0}
    take = prefetch.Prefetch.take

    def counting(self: prefetch.Prefetch, key: object, job: Job) -> prefetch.Prepared | None:
        got = take(self, key, job)
        if self.active:
            taken["asked"] += 1
            taken["prepared"] += got is not None
        return got

    monkeypatch.setattr(prefetch.Prefetch, "take", counting)
    return taken


def _serial(db: Path | str, paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    with monkeypatch.context() as m:
        m.setattr(prefetch, "MIN_BYTES", 1 << 60)
        return _ingest(db, paths)


def test_workers_and_one_process_store_the_same_rows(
    tmp_path: Path, pooled: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path / "logs")
    one, one_said = _serial(tmp_path / "one.db", [folder], monkeypatch)
    many, many_said = _ingest(tmp_path / "many.db", [folder])
    assert pooled["prepared"] > 30 and pooled["prepared"] == pooled["asked"]
    assert (many, many_said) == (one, one_said)
    assert [w.split("/")[-1] for w in one_said if w.startswith("skipped ")] == [
        "binary.txt: is not UTF-8 text",
        "latin-1.txt: is not UTF-8 text",
        "notes.txt: not a job log (does not look like a GitHub Actions job log)",
    ]  # (as before the workers)
    assert _rows(tmp_path / "many.db") == _rows(tmp_path / "one.db")
    # again, into those stores, with more logs beside (jobs known, new ones, a source seen before)
    more = _folder(tmp_path / "more", count=60)
    again_one = _serial(tmp_path / "one.db", [more, folder], monkeypatch)
    again_many = _ingest(tmp_path / "many.db", [more, folder])
    assert again_many == again_one
    assert _rows(tmp_path / "many.db") == _rows(tmp_path / "one.db")


def _ingest_with_faulty_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Callable[[Job], None]) -> None:
    """A folder ingested by workers whose parse meets ``fault`` first (set before they are forked, so in
    them only) gives what one process gives: the same summary and the same rows."""
    folder = _folder(tmp_path / "logs")
    one = _serial(tmp_path / "one.db", [folder], monkeypatch)
    parse = prefetch.parse_in_memory

    def faulty(job: Job, parts: list[LogPart], *args: Any) -> Any:
        fault(job)
        return parse(job, parts, *args)

    monkeypatch.setattr(prefetch, "parse_in_memory", faulty)
    assert _ingest(tmp_path / "many.db", [folder]) == one
    assert _rows(tmp_path / "many.db") == _rows(tmp_path / "one.db")


def test_a_job_a_worker_fails_on_is_parsed_as_in_one_process(
    tmp_path: Path, pooled: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(job: Job) -> None:
        if job.job_id % 3 == 0:
            raise RuntimeError("a worker's own trouble")

    _ingest_with_faulty_workers(tmp_path, monkeypatch, failing)
    assert 0 < pooled["prepared"] < pooled["asked"]


def test_a_worker_that_dies_leaves_its_jobs_to_the_main_process(
    tmp_path: Path, pooled: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def dying(job: Job) -> None:
        if job.name and len(job.name) % 2:
            os._exit(3)  # as a worker the kernel killed

    _ingest_with_faulty_workers(tmp_path, monkeypatch, dying)


def test_a_worker_that_dies_while_files_are_checked_leaves_them_to_the_main_process(
    tmp_path: Path, pooled: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from analyzer.collect import archive

    folder = _folder(tmp_path / "logs")
    one = _serial(tmp_path / "one.db", [folder], monkeypatch)
    main, facts = os.getpid(), archive._file_facts

    def dying(item: Any) -> Any:
        if os.getpid() != main:
            os._exit(3)
        return facts(item)

    monkeypatch.setattr(archive, "_file_facts", dying)
    assert _ingest(tmp_path / "many.db", [folder]) == one
    assert _rows(tmp_path / "many.db") == _rows(tmp_path / "one.db")


def test_no_workers_on_one_cpu_or_for_few_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert prefetch.workers_for(10_000, 1 << 30) == 0
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert prefetch.workers_for(1, 1 << 30) == 0  # one big log: its parse is not split
    assert prefetch.workers_for(10_000, prefetch.MIN_BYTES - 1) == 0
    assert prefetch.workers_for(10_000, 1 << 30) == 2
    assert not prefetch.Prefetch([], ()).active


def test_chunks_are_sent_in_saving_order_with_big_logs_between() -> None:
    """The main process can write the first chunk at once; big logs go early, biggest first; none is lost."""
    big = prefetch.CHUNK_BYTES + 1
    sizes = [10, 3 * big, 20, big, 30, 2 * big, 40, 50]
    order = prefetch._order(sizes)
    assert sorted(order) == list(range(len(sizes)))
    assert order[0] == 0 and [c for c in order if sizes[c] <= big - 1] == [0, 2, 4, 6, 7]
    assert [c for c in order if sizes[c] >= big] == [1, 5, 3] and order.index(3) < order.index(7)
    assert prefetch._chunks([big, 1, 1, big]) == [(0, 1), (1, 3), (3, 4)]


def test_a_bad_file_named_is_still_one_error_before_anything_is_written(
    tmp_path: Path, pooled: dict[str, int]
) -> None:
    folder = _folder(tmp_path / "logs", count=20)
    bad = tmp_path / "bad.txt"
    bad.write_text("not a job log\n", encoding="utf-8")
    with Store(tmp_path / "x.db") as store, pytest.raises(InputError, match=r"bad\.txt"):
        ingest_paths(store, [folder, bad])
    assert _rows(tmp_path / "x.db")["jobs"] == []
    assert pooled["asked"] == 0


def test_a_big_log_is_stored_byte_for_byte(tmp_path: Path) -> None:
    """The one-log path (packed and hashed in a thread while the log is parsed): the blob unpacks to the file."""
    data = b"".join(gzip.decompress(p.read_bytes()) for p in sorted(SAMPLE_LOGS.glob("*.txt.gz"))[:30])
    log = tmp_path / "big.txt"
    log.write_bytes(data)
    _ingest(tmp_path / "x.db", [log])
    conn = sqlite3.connect(tmp_path / "x.db")
    blob, size, digest = conn.execute("SELECT content, size, sha256 FROM logs").fetchone()
    conn.close()
    assert codec.unpack(blob) == data and size == len(data) and digest == hashlib.sha256(data).hexdigest()
    assert bytes(blob) == codec.pack(data)



def test_a_killed_ingest_leaves_no_workers_and_a_store_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main process killed while its workers parse: they end, the store holds nothing of this ingest
    (one transaction), and running the ingest again stores what an uninterrupted one does."""
    import signal
    import subprocess
    import sys
    import time

    folder = _folder(tmp_path / "logs", count=400)  # above MIN_BYTES: the workers are forked
    db = tmp_path / "killed.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "analyzer", "ingest", str(folder), "--store", str(db)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[str] = []
    for _ in range(600):  # until it has forked its workers (or finished)
        workers = subprocess.run(["pgrep", "-P", str(child.pid)], capture_output=True, text=True).stdout.split()
        if workers or child.poll() is not None:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    for _ in range(500):  # a worker notices within a fraction of a second
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]
        if not alive:
            break
        time.sleep(0.02)
    assert alive == []
    if db.exists() and "jobs" in _rows(db):
        assert _rows(db)["jobs"] in ([], _rows_after_serial(tmp_path, folder, monkeypatch)["jobs"])
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    assert _rows(db) == _rows_after_serial(tmp_path, folder, monkeypatch)


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _rows_after_serial(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[Any, ...]]]:
    db = tmp_path / "serial.db"
    if not db.exists():
        _serial(db, [folder], monkeypatch)
    return _rows(db)


def test_workers_beside_a_postgresql_store(
    tmp_path: Path, pooled: dict[str, int], monkeypatch: pytest.MonkeyPatch, pg_server: Any
) -> None:
    """Forked workers never touch the main process's PostgreSQL connection (they inherit its socket): the
    store it writes holds what a serial ingest writes into another database."""
    folder = _folder(tmp_path / "logs")
    one_url, many_url = pg_server.database(), pg_server.database()
    one = _serial(one_url, [folder], monkeypatch)
    many = _ingest(many_url, [folder])
    assert pooled["prepared"] > 30 and many == one
    rows = _pg_rows(one_url)
    assert len(rows["jobs"]) > 30 and len(rows["observations"]) > 30
    assert _pg_rows(many_url) == rows


def _pg_rows(url: str) -> dict[str, list[str]]:
    tables = ("runs", "jobs", "logs", "job_identity", "observations", "incidents", "excerpts", "parse_state", "local_runs")
    out = {}
    with Store(url) as store:
        for table in tables:
            cursor = store.conn.execute(f"SELECT * FROM {table}")
            keep = [i for i, d in enumerate(cursor.description) if d[0] not in WHEN]
            out[table] = sorted(repr([row[i] for i in keep]) for row in cursor.fetchall())
    return out
