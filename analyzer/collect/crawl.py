"""One fetch's crawl of GitHub: repository, workflow list, run listings, then each run's attempts,
jobs, logs and annotations (see ``analyzer.collect.fetch`` for the order and its guarantees)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from analyzer.collect import github
from analyzer.collect.github import PER_PAGE, GitHubClient, LogDownload
from analyzer.collect.rest import annotation_from_json, first_line, job_from_json, run_from_json
from analyzer.collect.runlogs import match_jobs, read_run_archive
from analyzer.collect.summary import FetchProgress, FetchSummary, Unfetched
from analyzer.collect.transport import decode_content
from analyzer.collect.writer import CachedAnswer, ContextFill, PageDone, Pool, RunWork, WorkflowFile, Writer
from analyzer.errors import AdvisorError, AuthError, ConfigError, GitHubError, NotFoundError, RateLimitError, StoreError
from analyzer.records import Job
from analyzer.store import Store

# Job conclusions that need no annotations: nothing went wrong, or the job never ran.
_NO_ANNOTATIONS = frozenset({"success", "skipped", "neutral"})
_RUN_FIELDS = (
    "id", "run_attempt", "name", "display_title", "path", "event", "head_branch", "head_sha", "status",
    "conclusion", "created_at", "run_started_at", "updated_at", "workflow_id",
)  # fmt: skip
_UNFINISHED = frozenset({"queued", "in_progress", "waiting", "requested", "pending"})  # a run's status before "completed"


class Crawl:
    """The state of one fetch; ``run()`` does it."""

    def __init__(
        self,
        store: Store,
        client: GitHubClient,
        *,
        repo: str,
        workflows: tuple[str, ...],
        branch: str | None,
        start: datetime,
        max_runs: int | None,
        logs: bool,
        concurrency: int,
        on_progress: Callable[[FetchProgress], None] | None,
        on_warning: Callable[[str], None] | None,
        archives: bool = True,
        run_ids: tuple[int, ...] = (),
        attempt: int | None = None,
        parse: Callable[[list[int]], int] | None = None,
    ) -> None:
        self.store = store
        self.parse = parse  # the jobs of each saved run, parsed by the writer while the next are fetched
        self.archives = archives
        self.run_ids = run_ids  # only these runs (event-driven: --run-id), no listing
        self.attempt = attempt
        self.client = client
        client.on_wait = self._waiting
        self.repo = repo
        self.workflows = workflows
        self.branch = branch
        self.start = start
        self.max_runs = max_runs
        self.logs = logs
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.on_warning = on_warning
        self.api = client.api_url
        self.summary = FetchSummary(repo)
        self.lock = threading.Lock()
        self.stop: RateLimitError | None = None
        self.fatal: BaseException | None = None
        self.seen: set[int] = set()
        self.workflow_ids: set[int] = set()
        self.index = itertools.count()
        self.todo = 0
        self.finished = 0
        self.capped = False
        self.waiting_until: float | None = None
        self.last_report = 0.0
        self.report_lock = threading.Lock()
        self.inflight = threading.BoundedSemaphore(max(8, 4 * concurrency))
        self.writer: Writer | None = None
        self.pool: Pool | None = None
        # what the store already holds, read before the writer starts (then only the writer touches it)
        self.cache: dict[str, tuple[str, Any]] = {}
        self.fetched: dict[int, tuple[int, str | None, bool]] = {}
        self.annotated: set[int] = set()
        self.log_states: dict[int, str] = {}
        self.statuses: dict[tuple[int, int], str | None] = {}
        self.bare: set[int] = set()  # runs stored without their actor (before the store kept it)

    # -- the whole fetch -------------------------------------------------------------------------

    def run(self) -> FetchSummary:
        self.cache = self.store.load_http_cache(self.api + "/")
        info, repo_cache = self._repository()
        self.repo = self.summary.repo = str(info.get("full_name") or self.repo)
        self.fetched = self.store.fetched_runs(self.repo)
        self.annotated = self.store.annotated_jobs(self.repo)
        self.log_states = self.store.log_states(self.repo)
        self.statuses = self.store.run_statuses(self.repo)
        self.bare = self.store.runs_without_actor(self.repo)
        self.writer = Writer(self.store, self.repo, self.logs, self.inflight.release, parse=self.parse)
        self.writer.start()
        self.pool = Pool(self.concurrency)
        if repo_cache is not None:
            self._put(repo_cache)
        try:
            self._fetch_all(info)
        except BaseException as exc:
            self._set_fatal(exc)
        finally:
            self._drain()
        if self.writer.error is not None:
            raise StoreError(
                f"cannot write the store {self.store.name}: {_one_line(self.writer.error)}",
                hint="check free disk space and permissions; runs fetched before this are kept",
            ) from self.writer.error
        if self.fatal is not None:
            raise self.fatal
        return self._summarize()

    def _fetch_all(self, info: dict[str, Any]) -> None:
        workflows = self._workflow_list()
        if self.run_ids:
            self._fetch_named_runs()
            if not self._halted():
                self._workflow_files(workflows, str(info.get("default_branch") or "main"))
            return
        scopes: list[dict[str, Any] | None] = list(self._select(workflows)) if self.workflows else [None]
        for scope in scopes:
            if scope is not None:
                self.workflow_ids.add(int(scope["id"]))
                base = f"/repos/{self.repo}/actions/workflows/{scope['id']}/runs"
            else:
                base = f"/repos/{self.repo}/actions/runs"
            self._list_window(base, self.start, None)
            if self._halted():
                return
        self._recheck_unfinished()
        if not self._halted():
            self._workflow_files(workflows, str(info.get("default_branch") or "main"))

    def _drain(self) -> None:
        assert self.pool is not None and self.writer is not None
        while not self.pool.wait(0.2):
            self._report("fetching")
        self.pool.close()
        self.writer.queue.put(None)
        self.writer.join()

    def _summarize(self) -> FetchSummary:
        assert self.writer is not None
        s, w = self.summary, self.writer
        s.runs_listed = len(self.seen)
        s.runs_fetched, s.jobs, s.logs, s.logs_expired, s.logs_missing = (
            w.runs_fetched, w.jobs, w.logs_ok, w.logs_expired, w.logs_missing,
        )  # fmt: skip
        s.annotated_jobs = w.annotated
        s.unfetched = sorted([*w.unfetched, *s.unfetched], key=_item_order)
        rate = self.client.rate()
        s.requests, s.counted_requests, s.downloads = rate.requests, rate.counted, rate.downloads
        s.rate_remaining, s.rate_limit = rate.remaining, rate.limit
        s.stopped = self.stop
        if self.capped and self.on_warning:
            self.on_warning(f"stopped listing at --max-runs {self.max_runs}")
        return s

    # -- conditional requests -----------------------------------------------------------------

    def _key(self, url: str) -> str:
        return url if url.startswith(("http://", "https://")) else self.api + url

    def _conditional(self, url: str, what: str) -> tuple[Any, str | None, bool, str | None]:
        """(data or cached payload, new ETag, modified, next page)."""
        key = self._key(url)
        cached = self.cache.get(key)
        answer = self.client.get(url, what=what, etag=cached[0] if cached else None)
        if answer.not_modified and cached:
            return cached[1], None, False, None
        return answer.data, answer.etag, True, answer.next_url

    def _repository(self) -> tuple[dict[str, Any], CachedAnswer | None]:
        """The repository (canonical name, default branch), and its cache entry to save if it changed."""
        url = f"/repos/{self.repo}"
        data, etag, modified, _ = self._conditional(url, f"repository {self.repo}")
        if not isinstance(data, dict):
            raise GitHubError(f"GitHub's answer for repository {self.repo} is not a repository", hint=github.RETRY_HINT)
        info = {k: data.get(k) for k in ("full_name", "default_branch", "created_at")}
        return info, CachedAnswer(self._key(url), etag, info) if modified and etag else None

    def _workflow_list(self) -> list[dict[str, Any]]:
        url = f"/repos/{self.repo}/actions/workflows?per_page={PER_PAGE}"
        key = self._key(url)
        cached = self.cache.get(key)
        answer = self.client.get(url, what=f"workflows of {self.repo}", etag=cached[0] if cached else None)
        if answer.not_modified and cached:
            return list(cached[1]["workflows"])
        items = list((answer.data or {}).get("workflows") or [])
        if answer.next_url:
            items += self.client.get_all(answer.next_url, "workflows", what=f"workflows of {self.repo}")
        slim = [{k: w.get(k) for k in ("id", "name", "path", "state")} for w in items if isinstance(w, dict)]
        if answer.etag and not answer.next_url:
            self._put(CachedAnswer(key, answer.etag, {"workflows": slim}))
        return slim

    def _select(self, workflows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for wanted in self.workflows:
            text = wanted.strip()
            match = next(
                (w for w in workflows if text in (str(w["id"]), w["name"], w["path"]) or
                 str(w["path"]).rsplit("/", 1)[-1] == text),
                None,
            ) or next((w for w in workflows if str(w["name"]).casefold() == text.casefold()), None)
            if match is None:
                names = ", ".join(sorted(f"{w['name']!r} ({str(w['path']).rsplit('/', 1)[-1]})" for w in workflows))
                raise ConfigError(
                    f"{self.repo} has no workflow {text!r}", hint=f"--workflow takes a name or file: {names or 'none'}"
                )
            yield match

    # -- listings ----------------------------------------------------------------------------

    def _list_window(self, base: str, lo: datetime, hi: datetime | None) -> None:
        """List the runs created in [lo, hi) (hi None: up to now), newest first, splitting big windows."""
        params = {"per_page": str(PER_PAGE), "exclude_pull_requests": "true", "created": _created(lo, hi)}
        if self.branch:
            params["branch"] = self.branch
        url: str | None = f"{base}?{urlencode(sorted(params.items()))}"
        first = True
        while url and not self._halted() and not self.capped:
            self._report("listing")
            payload, etag, modified = self._page(url)
            if first and payload["total"] > github.LISTING_CAP:
                mid = _split(lo, hi or datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))
                if mid is not None:
                    if modified and etag:
                        self._put(CachedAnswer(self._key(url), etag, {**payload, "runs": []}))
                    self._list_window(base, mid, hi)
                    self._list_window(base, lo, mid)
                    return
                self._warn(f"more than {github.LISTING_CAP} runs created in one second; some may be missed")
            first = False
            self._take_page(self._key(url), payload, etag if modified else None)
            url = payload["next"]

    def _page(self, url: str) -> tuple[dict[str, Any], str | None, bool]:
        data, etag, modified, next_url = self._conditional(url, f"the runs of {self.repo}")
        if not modified:
            return data, etag, False
        if not isinstance(data, dict) or not isinstance(data.get("workflow_runs"), list):
            raise GitHubError(f"GitHub's run listing for {self.repo} has no workflow_runs", hint=github.RETRY_HINT)
        runs = [_slim(r) for r in data["workflow_runs"] if isinstance(r, dict)]
        total = data.get("total_count")
        payload = {"total": total if isinstance(total, int) else len(runs), "next": next_url, "runs": runs}
        return payload, etag, True

    def _take_page(self, key: str, payload: dict[str, Any], etag: str | None) -> None:
        waiting: set[int] = set()
        whole = True
        for item in payload["runs"]:
            if self._halted():
                whole = False
                break
            if self.max_runs is not None and len(self.seen) >= self.max_runs:
                self.capped = True
                whole = False
                break
            run_id = item.get("id")
            if not isinstance(run_id, int) or run_id in self.seen:
                continue
            self.seen.add(run_id)
            if isinstance(item.get("workflow_id"), int):
                self.workflow_ids.add(item["workflow_id"])
            if self._consider(item):
                waiting.add(run_id)
        if etag and whole:
            self._put(PageDone(key, etag, payload, frozenset(waiting)))

    def _consider(self, item: dict[str, Any]) -> bool:
        """Queue a listed run if it needs fetching (True), else count it."""
        run = run_from_json(item, self.repo)
        if item.get("status") != "completed":
            self.summary.runs_in_progress += 1
            self._put(RunWork(next(self.index), run, item.get("updated_at"), track=False, complete=False))
            return False
        known = self.fetched.get(run.run_id)
        if known and known[0] > run.run_attempt and (known[2] or not self.logs):  # --attempt of a run stored later on
            self.summary.runs_known += 1
            return False
        if known and known[0] == run.run_attempt and known[1] == item.get("updated_at") and (known[2] or not self.logs):
            self.summary.runs_known += 1
            if run.run_id in self.bare and run.actor is not None:  # stored before the store kept the run context
                self.bare.discard(run.run_id)
                self.summary.runs_filled += 1
                self._put(ContextFill(run))
            return False
        while not self.inflight.acquire(timeout=0.2):
            self._report("fetching")
            if self._halted():
                return False
        work = RunWork(next(self.index), run, item.get("updated_at"))
        with self.lock:
            self.todo += 1
        assert self.pool is not None
        self.pool.submit(work.index, lambda: self._fetch_run(work))
        return True

    def _fetch_named_runs(self) -> None:
        """``--run-id``: each named run (its ``--attempt``, else its latest), queued like a listed run."""
        for run_id in self.run_ids:
            if self._halted():
                return
            url = f"/repos/{self.repo}/actions/runs/{run_id}"
            url += f"/attempts/{self.attempt}" if self.attempt else ""
            answer = self.client.get(url + "?exclude_pull_requests=true", what=f"run {run_id}" + (
                f" attempt {self.attempt}" if self.attempt else ""))  # fmt: skip
            if not isinstance(answer.data, dict):
                raise GitHubError(f"GitHub's answer for run {run_id} is not a run", hint=github.RETRY_HINT)
            item = _slim(answer.data)  # as a listed run: its users and head commit too
            self.seen.add(run_id)
            if isinstance(item.get("workflow_id"), int):
                self.workflow_ids.add(item["workflow_id"])
            self._consider(item)

    def _recheck_unfinished(self) -> None:
        latest: dict[int, tuple[int, str | None]] = {}
        for (run_id, attempt), status in self.statuses.items():
            if run_id not in latest or attempt > latest[run_id][0]:
                latest[run_id] = (attempt, status)
        for run_id, (_attempt, status) in sorted(latest.items()):
            if status not in _UNFINISHED or run_id <= 0 or run_id in self.seen or self._halted():
                continue
            url = f"/repos/{self.repo}/actions/runs/{run_id}?exclude_pull_requests=true"
            try:
                data, etag, modified, _ = self._conditional(url, f"run {run_id}")
            except NotFoundError:
                self._warn(f"run {run_id} (stored while in progress) is gone from GitHub")
                continue
            except RateLimitError as exc:
                self._halt(exc)
                return
            if not modified or not isinstance(data, dict):
                continue
            item = _slim(data)
            self.seen.add(run_id)
            self._consider(item)
            if item.get("status") != "completed" and etag:
                self._put(CachedAnswer(self._key(url), etag, item))

    def _workflow_files(self, workflows: list[dict[str, Any]], ref: str) -> None:
        for flow in workflows:
            path = str(flow.get("path") or "")
            if flow.get("id") not in self.workflow_ids or not path.startswith(".github/workflows/"):
                continue
            url = f"/repos/{self.repo}/contents/{path}?{urlencode({'ref': ref})}"
            try:
                data, etag, modified, _ = self._conditional(url, f"{path} at {ref}")
            except NotFoundError:
                continue
            except RateLimitError as exc:
                self._halt(exc)
                return
            except AuthError:
                self._warn(f"cannot read {path}: the token lacks `contents: read`; current timeouts come from elsewhere")
                continue
            except GitHubError as exc:
                self._fail(None, exc)
                continue
            text = decode_content(data) if modified else None
            if text is not None:
                cache = CachedAnswer(self._key(url), etag, {"sha": data.get("sha")}) if etag else None
                self._put(WorkflowFile(self.repo, path, ref, text, cache))

    # -- one run ------------------------------------------------------------------------------

    def _fetch_run(self, work: RunWork) -> None:
        """Pool task: attempts and jobs of one run, then its logs and annotations as further tasks."""
        run = work.run
        if self._halted():
            work.complete = False
            self._finish(work)
            return
        try:
            runs = [run]
            for attempt in range(1, run.run_attempt):
                if self.statuses.get((run.run_id, attempt)) != "completed":
                    runs.append(run_from_json(self.client.fetch_attempt(self.repo, run.run_id, attempt), self.repo))
            raw_jobs = [j for j in self.client.fetch_jobs(self.repo, run.run_id)
                        if int(j.get("run_attempt") or 1) <= run.run_attempt]  # fmt: skip
            names = {r.run_attempt: r.workflow_name for r in runs}
            jobs = [job_from_json(j, self.repo, names.get(int(j.get("run_attempt") or 1), run.workflow_name))
                    for j in raw_jobs]  # fmt: skip
        except AdvisorError as exc:
            self._fail(work, exc)
            self._finish(work)
            return
        except BaseException as exc:
            self._set_fatal(exc)
            work.complete = False
            self._finish(work)
            return
        work.runs, work.jobs = sorted(runs, key=lambda r: r.run_attempt), jobs
        tasks: list[Callable[[], None]] = []
        logs_of: dict[int, list[tuple[Job, int | None]]] = {}  # attempt -> jobs whose log is wanted
        for raw, job in zip(raw_jobs, jobs, strict=True):
            if job.status != "completed":
                work.complete = False  # a completed run with an unfinished job: ask again next time
                continue
            if self.logs and job.conclusion != "skipped" and self.log_states.get(job.job_id) not in ("ok", "expired"):
                logs_of.setdefault(job.run_attempt, []).append((job, _check_run(raw)))
            if (job.conclusion or "") not in _NO_ANNOTATIONS and job.job_id not in self.annotated:
                tasks.append(self._task(work, job.job_id, "notes", _check_run(raw)))
        for attempt, wanted in sorted(logs_of.items()):
            if self.archives and len(wanted) > 1:  # one download for the attempt instead of one per job
                listed = [j for j in jobs if j.run_attempt == attempt]
                tasks.append(self._archive_task(work, attempt, listed, [j for j, _ in wanted]))
            else:
                tasks += [self._task(work, job.job_id, "log", None) for job, _ in wanted]
        work.pending = len(tasks)
        if not tasks:
            self._finish(work)
            return
        assert self.pool is not None
        for task in tasks:
            self.pool.submit(work.index, task)

    def _archive_task(self, work: RunWork, attempt: int, listed: list[Job], wanted: list[Job]) -> Callable[[], None]:
        """Pool task: the run-log archive of one attempt, split into the ``wanted`` jobs' logs; a job
        it does not hold unambiguously (or all of them, when there is no usable archive) is asked
        for on its own, as further tasks of the run."""

        def task() -> None:
            rest: list[Job] = []
            try:
                if self._halted():
                    work.complete = False
                    return
                rest = wanted
                download = self.client.download_run_logs(self.repo, work.run.run_id, attempt)
                if download.state == "ok" and download.data is not None:
                    entries = read_run_archive(download.data, what=f"the logs of run {work.run.run_id} attempt {attempt}")
                    found = match_jobs(entries, listed)
                    with work.lock:
                        for job in wanted:
                            if job.job_id in found:
                                work.logs[job.job_id] = LogDownload("ok", found[job.job_id])
                    rest = [job for job in wanted if job.job_id not in found]
            except (RateLimitError, AuthError) as exc:
                rest = []
                self._fail(work, exc)
            except AdvisorError as exc:  # a broken archive or download: each log on its own instead
                self._warn(f"run {work.run.run_id}: {exc.message}; fetching its logs one by one")
            except BaseException as exc:
                rest = []
                self._set_fatal(exc)
                work.complete = False
            finally:
                followers = [self._task(work, job.job_id, "log", None) for job in rest]
                with work.lock:
                    work.pending += len(followers) - 1
                    last = work.pending == 0
                assert self.pool is not None
                for follower in followers:
                    self.pool.submit(work.index, follower)
                if last:
                    self._finish(work)

        return task

    def _task(self, work: RunWork, job_id: int, kind: str, check_run: int | None) -> Callable[[], None]:
        def task() -> None:
            try:
                if self._halted():
                    work.complete = False
                elif kind == "log":
                    result = self.client.download_job_log(self.repo, job_id)
                    with work.lock:
                        work.logs[job_id] = result
                else:
                    raw = self.client.fetch_annotations(self.repo, check_run or job_id)
                    notes = [annotation_from_json(a, job_id) for a in raw]
                    with work.lock:
                        work.notes[job_id] = notes
            except AdvisorError as exc:
                self._fail(work, exc)
            except BaseException as exc:
                self._set_fatal(exc)
                work.complete = False
            finally:
                with work.lock:
                    work.pending -= 1
                    last = work.pending == 0
                if last:
                    self._finish(work)

        return task

    def _finish(self, work: RunWork) -> None:
        with self.lock:
            self.finished += 1
        self._put(work)
        self._report("fetching")

    # -- stopping, failures, progress -----------------------------------------------------------

    def _halted(self) -> bool:
        writer_failed = self.writer is not None and self.writer.error is not None
        return self.stop is not None or self.fatal is not None or writer_failed

    def _halt(self, exc: RateLimitError) -> None:
        with self.lock:
            if self.stop is None:
                self.stop = exc

    def _set_fatal(self, exc: BaseException) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = exc

    def _fail(self, work: RunWork | None, exc: AdvisorError) -> None:
        if work is not None:
            work.complete = False
        if isinstance(exc, RateLimitError):
            self._halt(exc)
        elif isinstance(exc, AuthError):
            self._set_fatal(exc)
        else:
            where = f"run {work.run.run_id}: " if work is not None else ""
            item = Unfetched("failed", work.run.run_id if work is not None else None, detail=exc.message)
            with self.lock:
                self.summary.failures.append(where + exc.message)
                self.summary.unfetched.append(item)
            self._warn(where + exc.message)

    def _warn(self, message: str) -> None:
        if self.on_warning is not None:
            with self.report_lock:
                self.on_warning(message)

    def _put(self, item: RunWork | PageDone | CachedAnswer | WorkflowFile | ContextFill) -> None:
        assert self.writer is not None
        self.writer.queue.put(item)

    def _waiting(self, reset: float) -> None:
        self.waiting_until = reset
        self._report("waiting", force=True)
        self.waiting_until = None

    def _report(self, stage: str, *, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        with self.report_lock:
            if not force and now - self.last_report < 0.1:
                return
            self.last_report = now
            writer = self.writer
            rate = self.client.rate()
            self.on_progress(
                FetchProgress(
                    stage=stage,
                    runs_listed=len(self.seen),
                    runs_done=self.finished,
                    runs_todo=self.todo,
                    jobs=writer.jobs if writer else 0,
                    logs=writer.logs_ok if writer else 0,
                    requests=rate.requests + rate.downloads,
                    rate_remaining=rate.remaining,
                    rate_limit=rate.limit,
                    waiting_until=self.waiting_until,
                )
            )

    def parse_progress(self, done: int, total: int) -> None:
        if self.on_progress is None:
            return
        rate = self.client.rate()
        self.on_progress(
            FetchProgress(
                "parsing", len(self.seen), self.finished, self.todo, self.summary.jobs, self.summary.logs,
                rate.requests + rate.downloads, rate.remaining, rate.limit, parsed=done, parse_total=total,
            )
        )  # fmt: skip


def _slim(item: dict[str, Any]) -> dict[str, Any]:
    """A listed run as fetch reads it and the cache keeps it: its users as logins, its head commit as
    the first line of the message."""
    slim = {k: item.get(k) for k in _RUN_FIELDS}
    for key in ("actor", "triggering_actor"):
        user = item.get(key)
        slim[key] = {"login": user.get("login")} if isinstance(user, dict) else None
    head = item.get("head_commit")
    slim["head_commit"] = {"message": first_line(head.get("message"))} if isinstance(head, dict) else None
    return slim


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _item_order(item: Unfetched) -> tuple[int, int, str, str]:
    return (item.run_id or 0, item.job_id or 0, item.reason, item.detail)


def _check_run(raw: Any) -> int | None:
    """The check-run id of a job (its ``check_run_url``'s last segment; in practice the job id)."""
    url = raw.get("check_run_url") if isinstance(raw, dict) else None
    if isinstance(url, str) and url.rstrip("/").rsplit("/", 1)[-1].isdigit():
        return int(url.rstrip("/").rsplit("/", 1)[-1])
    return None


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(lo: datetime, hi: datetime | None) -> str:
    """The ``created`` filter for [lo, hi): GitHub's ``a..b`` is inclusive at both ends."""
    if hi is None:
        return f">={_stamp(lo)}"
    return f"{_stamp(lo)}..{_stamp(hi - timedelta(seconds=1))}"


def _split(lo: datetime, hi: datetime) -> datetime | None:
    """A point inside (lo, hi) near the middle, on a day/hour/minute grid when the span allows it,
    so the same windows (and cached ETags) come back on the next fetch."""
    span = (hi - lo).total_seconds()
    if span < 2:
        return None
    mid = lo + (hi - lo) / 2
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for unit in (86400, 3600, 60, 1):
        if span >= 4 * unit or unit == 1:
            seconds = int((mid - epoch).total_seconds()) // unit * unit
            point = epoch + timedelta(seconds=seconds)
            if lo < point < hi:
                return point
    return None
