#!/usr/bin/env bash
# The built package works alone: build the sdist and wheel, `twine check` them, check what the
# wheel carries, install it into a fresh venv outside the checkout and run it from there (with the
# checkout nowhere on sys.path). .ci/run runs this; it needs `build` and `twine` (PyPI) and the
# dependencies from the package index. Usage: scripts/check_wheel.sh [WORKDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
case "$work" in "$root"|"$root"/*) echo "check_wheel: WORKDIR must be outside the checkout" >&2; exit 2 ;; esac
[ -n "${1:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
cd "$work"
unset PYTHONPATH
host_python=$(command -v python)  # the checkout's interpreter (editable install), for the comparison below

echo "== build: sdist and wheel" >&2
python -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
python -m twine check --strict "$work"/dist/*

echo "== wheel contents" >&2
python - "$work"/dist/*.whl <<'EOF'
import sys
import zipfile
from email.parser import Parser

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = {"analyzer/py.typed", "analyzer/present/templates/report.html.j2",
        "analyzer/present/templates/charts.html.j2", "analyzer/present/templates/report.css",
        "analyzer/demo/sample/__init__.py", "analyzer/demo/demo.py"}
missing = sorted(need - names)
presets = sorted(n for n in names if n.startswith("analyzer/presets/") and not n.endswith("/"))
info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
entry = zipfile.ZipFile(sys.argv[1]).read(info).decode()
meta = Parser().parsestr(zipfile.ZipFile(sys.argv[1]).read(info.replace("entry_points.txt", "METADATA")).decode())
stray = sorted(n for n in names if not n.startswith(("analyzer/", "we_advisor-")) or "__pycache__" in n)
problems = [f"missing {n}" for n in missing] + [f"not ours: {n}" for n in stray]
if not presets:
    problems.append("no presets under analyzer/presets/")
if "we-advisor = analyzer.__main__:console_main" not in entry:
    problems.append("no we-advisor console script")
if problems:
    sys.exit("wheel: " + "; ".join(problems))
print(f"wheel: {len(names)} files, {len(presets)} preset(s), templates, py.typed, console script; "
      f"{meta['Name']} {meta['Version']} (the demo generates its sample: data/sample is not shipped)")
EOF

echo "== a fresh venv outside the checkout: install the wheel, run it" >&2
# no pip inside the venv and no .pyc compiling: the host's pip installs into it (~15 s instead of ~50 s)
python -m venv --without-pip "$work/venv"
python -m pip --python "$work/venv/bin/python" install --quiet --disable-pip-version-check --no-compile "$work"/dist/*.whl
PATH="$work/venv/bin:$PATH"
where=$(python -c 'import analyzer; print(analyzer.__file__)')
case "$where" in "$work/venv/"*) ;; *) echo "check_wheel: analyzer imported from $where, not the venv" >&2; exit 1 ;; esac
expected="we-advisor $(python -c 'from importlib.metadata import version; print(version("we-advisor"))')"
version=$(we-advisor --version)
echo "$version"
case "$version" in "$expected (store schema "[0-9]*")") ;; *) echo "check_wheel: unexpected --version: $version" >&2; exit 1 ;; esac
we-advisor recommend --help >/dev/null
we-advisor demo >"$work/demo.txt" 2>"$work/demo.err" || { cat "$work/demo.err" >&2; exit 1; }
grep -q "^HTML report: reports/index.html$" "$work/demo.txt"
test -s "$work/reports/index.html" && test -s "$work/reports/weekly.md"
# the wheel's demo (a generated sample) tells exactly what the checkout's demo (data/sample) tells
mkdir "$work/checkout"
(cd "$work/checkout" && PYTHONPATH="$root" "$host_python" -m analyzer demo >"$work/demo-checkout.txt" 2>/dev/null)
diff -u "$work/demo-checkout.txt" "$work/demo.txt" >&2
echo "wheel: --version, recommend --help and demo work from $work/venv" >&2
