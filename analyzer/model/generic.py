"""Lines that end failed CI jobs of every kind: the words failure excerpts share whatever the cause.

``model.signatures`` counts these as background documents when it weighs words by their inverse
document frequency. In a store with many different failures the store itself shows which words
are common; in a small one (two causes, a handful of jobs) every word is rare and a test runner's
summary would tie two unrelated failures together. These lines, written for this purpose (test
runners' summaries, build tools' endings, the runner's own lines, common error prefixes), say
which words carry no cause. No project's names or messages are in here.
"""

from __future__ import annotations

GENERIC_LINES = (
    # the runner
    "##[error]Process completed with exit code 1.",
    "##[error]Process completed with exit code 2.",
    "##[error]The operation was canceled.",
    "##[error]The process '/usr/bin/git' failed with exit code 128",
    "Error: Process completed with exit code 1.",
    "##[group]Run make test",
    "shell: /usr/bin/bash -e {0}",
    "Post job cleanup.",
    "Cleaning up orphan processes",
    # go, ginkgo
    "--- FAIL: TestSomething (0.00s)",
    "FAIL",
    "FAIL\tgithub.com/org/repo/pkg/module\t0.123s",
    "ok  \tgithub.com/org/repo/pkg/other\t0.456s",
    "exit status 1",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "panic: test timed out after 10m0s",
    "FAIL! -- 10 Passed | 1 Failed | 0 Pending | 2 Skipped",
    "Summarizing 1 Failure:",
    "Ran 12 of 15 Specs in 100.000 seconds",
    "Ginkgo ran 1 suite in 2m0s",
    "Test Suite Failed",
    "[FAILED] Expected",
    "[FAILED] Timed out after 180.000s.",
    "to equal",
    "Unexpected error:",
    # python
    "Traceback (most recent call last):",
    "AssertionError: assert 1 == 2",
    "E       assert 1 == 2",
    "FAILED tests/test_module.py::test_case - AssertionError",
    "= 1 failed, 10 passed in 2.00s =",
    "=========================== short test summary info ============================",
    "Error: Process completed with exit code 1",
    # javascript
    "npm ERR! code ELIFECYCLE",
    "npm ERR! errno 1",
    "npm error code 1",
    "Tests:       1 failed, 10 passed, 11 total",
    "Test Suites: 1 failed, 3 passed, 4 total",
    "● Suite › test case",
    "Error: expect(received).toBe(expected)",
    "Expected: 1",
    "Received: 2",
    # jvm, rust, ruby, c
    "[ERROR] Tests run: 10, Failures: 1, Errors: 0, Skipped: 0",
    "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.0.0:test (default-test)",
    "BUILD FAILED in 1m 2s",
    "FAILURE: Build failed with an exception.",
    "test result: FAILED. 10 passed; 1 failed; 0 ignored",
    "error: test failed, to rerun pass `--lib`",
    "thread 'main' panicked at src/lib.rs:1:1:",
    "1 example, 1 failure",
    "Failures:",
    "make: *** [Makefile:10: test] Error 1",
    "make[1]: *** [Makefile:20: all] Error 2",
    "error: command failed with exit code 1",
    "Error: expected 1, got 2",
    "error: timed out waiting for the condition",
    "Error: context deadline exceeded",
    "Killed",
)
