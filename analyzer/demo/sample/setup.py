"""The steps around the tests: set up job, checkout, setup-go, install Kind, post-checkout."""

from __future__ import annotations

from analyzer.demo.sample.scenario import GO_VERSION, INSTALL_CMDS, REPO, RUNNER_VERSION, WEB, WORKDIR
from analyzer.demo.sample.text import Ctx, Log, draw_lognormal


def log_setup_job(log: Log, job_name: str, actions: tuple[tuple[str, str, str], ...]) -> None:
    log.put(f"Current runner version: '{RUNNER_VERSION}'", gap_s=log.rng.uniform(0.4, 0.9))
    log.many(
        (
            "##[group]Runner Image Provisioner",
            "Hosted Compute Agent",
            "Version: 20260928.412",
            "Commit: 5c0f2d6c1b8e4a3f9d7e6b5a4c3d2e1f0a9b8c7d",
            "Build Date: 2026-09-28T16:41:07Z",
            "##[endgroup]",
            "##[group]Operating System",
            "Ubuntu",
            "24.04.3",
            "LTS",
            "##[endgroup]",
            "##[group]Runner Image",
            "Image: ubuntu-24.04",
            "Version: 20261005.1.0",
            "Included Software: https://github.com/actions/runner-images/blob/ubuntu24/20261005.1/images/ubuntu/Ubuntu2404-Readme.md",
            "Image Release: https://github.com/actions/runner-images/releases/tag/ubuntu24%2F20261005.1",
            "##[endgroup]",
            "##[group]GITHUB_TOKEN Permissions",
            "Contents: read",
            "Metadata: read",
            "##[endgroup]",
            "Secret source: Actions",
            "Prepare workflow directory",
        )
    )
    log.put("Prepare all required actions", gap_s=log.rng.uniform(0.03, 0.06))
    log.put("Getting action download info")
    for action, version, sha in actions:
        log.put(f"##[group]Download immutable action package '{action}'", gap_s=log.rng.uniform(0.1, 0.4))
        log.many((f"Version: {version}", f"Digest: sha256:{log.hex(64)}", f"Source commit SHA: {sha}", "##[endgroup]"))
    log.put(f"Complete job name: {job_name}", gap_s=log.rng.uniform(0.1, 0.3))


ACTIONS = (
    ("actions/checkout@v4", "4.3.0", "08eba0b27e820071cde6df949e0beb9ba4906955"),
    ("actions/setup-go@v5", "5.5.0", "d35c59abb061a4a6fb18e82ac0862c26744d6ab5"),
)


def log_checkout(log: Log, ctx: Ctx) -> None:
    log.put("##[group]Run actions/checkout@v4", gap_s=0.05)
    log.many(
        (
            "with:",
            f"  repository: {REPO}",
            "  token: ***",
            "  ssh-strict: true",
            "  ssh-user: git",
            "  persist-credentials: true",
            "  clean: true",
            "  sparse-checkout-cone-mode: true",
            "  fetch-depth: 1",
            "  fetch-tags: false",
            "  show-progress: true",
            "  lfs: false",
            "  submodules: false",
            "  set-safe-directory: true",
            "##[endgroup]",
        )
    )
    log.put(f"Syncing repository: {REPO}", gap_s=log.rng.uniform(0.08, 0.2))
    log.many(
        (
            "##[group]Getting Git version info",
            f"Working directory is '{WORKDIR}'",
            "[command]/usr/bin/git version",
            "git version 2.51.2",
            "##[endgroup]",
            f"Temporarily overriding HOME='/home/runner/work/_temp/{log.uuid()}' before making global git config changes",
            "Adding repository directory to the temporary git global config as a safe directory",
            f"[command]/usr/bin/git config --global --add safe.directory {WORKDIR}",
            f"Deleting the contents of '{WORKDIR}'",
            "##[group]Initializing the repository",
            f"[command]/usr/bin/git init {WORKDIR}",
            f"Initialized empty Git repository in {WORKDIR}/.git/",
            f"[command]/usr/bin/git remote add origin {WEB}",
            "##[endgroup]",
            "##[group]Disabling automatic garbage collection",
            "[command]/usr/bin/git config --local gc.auto 0",
            "##[endgroup]",
            "##[group]Setting up auth",
            "[command]/usr/bin/git config --local http.https://github.com/.extraheader AUTHORIZATION: basic ***",
            "##[endgroup]",
            "##[group]Fetching the repository",
        )
    )
    if ctx.pr is not None:
        ref = f"refs/remotes/pull/{ctx.pr}/merge"
        sha = ctx.merge_sha
        _git_fetch(log, sha, ref, f"pull/{ctx.pr}/merge")
        log.many(("##[group]Checking out the ref", f"[command]/usr/bin/git checkout --progress --force {ref}"))
        log.put(f"HEAD is now at {sha[:7]} Merge {ctx.sha} into {log.hex(40)}", gap_s=log.rng.uniform(0.2, 0.9))
    else:
        sha = ctx.sha
        _git_fetch(log, sha, "refs/remotes/origin/main", "origin/main")
        log.many(
            ("##[group]Checking out the ref", "[command]/usr/bin/git checkout --progress --force -B main refs/remotes/origin/main")
        )
        log.put("Switched to a new branch 'main'", gap_s=log.rng.uniform(0.2, 0.9))
        log.put("branch 'main' set up to track 'origin/main'.")
    log.many(("##[endgroup]", "[command]/usr/bin/git log -1 --format=%H", sha))


def _git_fetch(log: Log, sha: str, ref: str, local: str) -> None:
    log.put(
        "[command]/usr/bin/git -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules "
        f"--depth=1 origin +{sha}:{ref}"
    )
    log.put(f"From {WEB}", gap_s=log.rng.uniform(0.3, 1.6))
    log.many((f" * [new ref]         {sha} -> {local}", "##[endgroup]"))


def log_setup_go(log: Log) -> None:
    log.put("##[group]Run actions/setup-go@v5", gap_s=0.03)
    log.many(
        ("with:", "  go-version-file: go.mod", "  cache: false", "  check-latest: false", "  token: ***", "##[endgroup]")
    )
    log.put(f"Setup go version spec {GO_VERSION}", gap_s=log.rng.uniform(0.05, 0.2))
    hit = log.rng.random() < 0.8
    if hit:
        log.put(f"Found in cache @ /opt/hostedtoolcache/go/{GO_VERSION}/x64")
    else:
        log.put(f"Attempting to download {GO_VERSION}...")
        log.put(f"matching {GO_VERSION}...")
        log.put(
            f"Acquiring {GO_VERSION} from https://github.com/actions/go-versions/releases/download/"
            f"{GO_VERSION}-12029476218/go-{GO_VERSION}-linux-x64.tar.gz"
        )
        log.put("Extracting Go...", gap_s=draw_lognormal(log.rng, 2.5, 0.4))
        log.put(f"[command]/usr/bin/tar xz --warning=no-unknown-keyword --overwrite -C /home/runner/work/_temp/{log.uuid()} -f /home/runner/work/_temp/{log.uuid()}")
        log.put("Successfully extracted go to /home/runner/work/_temp/go", gap_s=draw_lognormal(log.rng, 3.0, 0.3))
        log.put("Adding to the cache ...")
        log.put(f"Successfully cached go to /opt/hostedtoolcache/go/{GO_VERSION}/x64", gap_s=draw_lognormal(log.rng, 1.2, 0.3))
    log.many(("Added go to the path", f"Successfully set up Go version {GO_VERSION}"))
    log.put(f"go version go{GO_VERSION} linux/amd64", gap_s=draw_lognormal(log.rng, 1.0 if hit else 0.3, 0.5))
    log.many(
        (
            "",
            "##[group]go env",
            "GO111MODULE=''",
            "GOARCH='amd64'",
            "GOCACHE='/home/runner/.cache/go-build'",
            "GOMODCACHE='/home/runner/go/pkg/mod'",
            "GOOS='linux'",
            f"GOROOT='/opt/hostedtoolcache/go/{GO_VERSION}/x64'",
            f"GOVERSION='go{GO_VERSION}'",
            "##[endgroup]",
        )
    )


def log_run_header(log: Log, commands: tuple[str, ...], env: tuple[str, ...] = ()) -> None:
    log.put(f"##[group]Run {commands[0]}", gap_s=0.02)
    log.many(tuple(f"\x1b[36;1m{c}\x1b[0m" for c in commands))
    log.put("shell: /usr/bin/bash -e {0}")
    if env:
        log.put("env:")
        log.many(tuple(f"  {e}" for e in env))
    log.put("##[endgroup]")


def log_install_kind(log: Log, slow: bool) -> None:
    log_run_header(log, INSTALL_CMDS)
    rng = log.rng
    if slow:  # a stalled download: curl gives up after --max-time and retries
        for left in (5, 4, 3, 2)[: rng.randint(3, 4)]:
            log.wait(120 + rng.uniform(0.0, 0.2))
            log.put("curl: (28) Operation timed out after 120001 milliseconds with 0 out of 0 bytes received", gap_s=0.0)
            log.put(f"Warning: Problem : timeout. Will retry in 1 seconds. {left} retries left.")
            log.wait(1.0)
        log.wait(draw_lognormal(rng, 40, 0.3))
    else:
        log.wait(draw_lognormal(rng, 1.5, 0.4))
    log.put("go: downloading github.com/onsi/ginkgo/v2 v2.22.0", gap_s=draw_lognormal(rng, 1.8, 0.4))
    log.many(("go: downloading github.com/go-logr/logr v1.4.2", "go: downloading golang.org/x/tools v0.28.0"))
    log.put("kind v0.24.0 go1.22.6 linux/amd64", gap_s=draw_lognormal(rng, 9.0, 0.3))
    log.many(("Client Version: v1.31.0", "Kustomize Version: v5.4.2"))


def log_post_checkout(log: Log) -> None:
    log.put("Post job cleanup.", gap_s=log.rng.uniform(0.005, 0.02))
    log.put("[command]/usr/bin/git version", gap_s=log.rng.uniform(0.05, 0.12))
    log.many(
        (
            "git version 2.51.2",
            f"Temporarily overriding HOME='/home/runner/work/_temp/{log.uuid()}' before making global git config changes",
            "Adding repository directory to the temporary git global config as a safe directory",
            f"[command]/usr/bin/git config --global --add safe.directory {WORKDIR}",
            "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand",
            "[command]/usr/bin/git submodule foreach --recursive sh -c \"git config --local --name-only --get-regexp "
            "'core\\.sshCommand' && git config --local --unset-all 'core.sshCommand' || :\"",
            "[command]/usr/bin/git config --local --name-only --get-regexp http\\.https\\:\\/\\/github\\.com\\/\\.extraheader",
            "http.https://github.com/.extraheader",
            "[command]/usr/bin/git config --local --unset-all http.https://github.com/.extraheader",
        )
    )
