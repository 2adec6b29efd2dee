#!/usr/bin/env bash
# The whole check, as CI runs it: lint, types, tests (the import layers included). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== ruff" >&2
ruff check . || exit 1
echo "== mypy" >&2
mypy || exit 1
echo "== pytest" >&2
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): a selection that runs nothing is a failure, check it" >&2
fi
exit "$rc"
