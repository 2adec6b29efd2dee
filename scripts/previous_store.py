#!/usr/bin/env python3
"""For the composite action (action.yml): the earlier run of this workflow whose store to start from.

Lists the newest completed runs of the workflow this job belongs to (``GITHUB_WORKFLOW_REF``) and
picks the first that left an unexpired artifact named ``$ARTIFACT``. A store is uploaded only after
a successful fetch and report, so the artifact itself says that run's store is whole, even when a
later step of that run (the comment) failed. Writes ``run-id=ID`` (empty: none) to
``$GITHUB_OUTPUT``; on no store, or when the API cannot be asked, a notice or warning says that this
run fetches the whole ``since`` window, and it exits 0 all the same.

``WORKFLOW`` (a workflow file name, e.g. ``we-advisor-weekly.yml``) looks at that workflow's runs
instead: a pull request's timeout check starts from the store the weekly workflow keeps.

Standard library only. Reads ``GITHUB_API_URL``, ``GITHUB_REPOSITORY``, ``GITHUB_RUN_ID``,
``GITHUB_WORKFLOW_REF``, ``WORKFLOW``, ``GH_TOKEN`` (needs ``actions: read``) and ``ARTIFACT``; the
token is sent in a header and never printed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

RUNS_LOOKED_AT = 20  # completed runs of the workflow, newest first, searched for a store


class ApiError(Exception):
    """The API could not be asked (a message without the token)."""


def get(api: str, path: str, token: str, query: dict[str, str]) -> Any:
    """GET ``api + path`` as JSON; three tries for 5xx answers and broken connections."""
    url = f"{api}{path}?{urlencode(query)}"
    headers = {"Accept": "application/vnd.github+json", "Authorization": f"Bearer {token}",
               "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "we-advisor-action"}  # fmt: skip
    problem = ""
    for attempt in range(3):
        if attempt:
            time.sleep(2.0 * attempt)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as exc:
            try:
                message = str(json.load(exc).get("message") or "")
            except (ValueError, AttributeError, OSError):
                message = ""
            problem = f"HTTP {exc.code} for {path}" + (f": {message}" if message else "")
            if exc.code < 500:
                break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problem = f"{path}: {getattr(exc, 'reason', exc)}"
    raise ApiError(problem)


def workflow_of_this_run(api: str, repo: str, token: str) -> str:
    """``WORKFLOW`` if set, else the workflow file name of this run (the API accepts it as the workflow id),
    else the id of this run's workflow."""
    named = os.environ.get("WORKFLOW", "").strip()
    if named:
        return quote(named.rsplit("/", 1)[-1], safe="")
    ref = os.environ.get("GITHUB_WORKFLOW_REF", "")  # OWNER/REPO/.github/workflows/FILE.yml@refs/heads/main
    path = ref.split("@", 1)[0]
    if path.startswith(f"{repo}/") and "/" in path:
        return quote(path.rsplit("/", 1)[-1], safe="")
    run = get(api, f"/repos/{repo}/actions/runs/{os.environ['GITHUB_RUN_ID']}", token, {})
    return str(run["workflow_id"])


def find_store(api: str, repo: str, token: str, artifact: str) -> tuple[int, dict[str, Any]] | None:
    """(run id, artifact) of the newest earlier completed run of this workflow that kept a store."""
    this_run = int(os.environ.get("GITHUB_RUN_ID") or 0)
    workflow = workflow_of_this_run(api, repo, token)
    listing = get(api, f"/repos/{repo}/actions/workflows/{workflow}/runs", token,
                  {"status": "completed", "per_page": str(RUNS_LOOKED_AT)})  # fmt: skip
    for run in listing.get("workflow_runs") or []:
        run_id = int(run["id"])
        if run_id == this_run:
            continue
        found = get(api, f"/repos/{repo}/actions/runs/{run_id}/artifacts", token, {"name": artifact, "per_page": "10"})
        for item in found.get("artifacts") or []:
            if item.get("name") == artifact and not item.get("expired"):
                return run_id, item
    return None


def main() -> int:
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repo = os.environ["GITHUB_REPOSITORY"]
    token = os.environ.get("GH_TOKEN", "")
    artifact = os.environ.get("ARTIFACT") or "we-advisor-store"
    full = "this run fetches the whole `since` window (a full fetch), and keeps its store for the next run"
    if os.environ.get("WORKFLOW", "").strip():  # another workflow's store, read only (a pull request's check)
        full = "there is no history to start from yet"
    try:
        found = find_store(api, repo, token, artifact)
    except (ApiError, KeyError, TypeError, ValueError) as exc:
        print(f"::warning title=we-advisor::cannot look for the previous store ({exc}); the job needs "
              f"`actions: read`. {full[0].upper()}{full[1:]}.")  # fmt: skip
        found = None
    else:
        if found is None:
            which = f"workflow {os.environ['WORKFLOW']}" if os.environ.get("WORKFLOW", "").strip() else "this workflow"
            print(f"::notice title=we-advisor::no `{artifact}` artifact in the last {RUNS_LOOKED_AT} completed runs of "
                  f"{which} (the first run, or the store expired): {full}.")  # fmt: skip
        else:
            run_id, item = found
            print(f"we-advisor: starting from the store of run {run_id} ({artifact}, {item.get('size_in_bytes', '?')} "
                  f"bytes, uploaded {item.get('created_at', '?')})")  # fmt: skip
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with Path(output).open("a", encoding="utf-8") as fh:
            fh.write(f"run-id={found[0] if found else ''}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
