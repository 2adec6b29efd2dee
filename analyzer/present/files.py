"""Writing what a command produced: the reports (all or none), a command's ``--output`` file."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer.errors import InputError

DEFAULT_HTML = Path("reports") / "index.html"


@dataclass(frozen=True, slots=True)
class WrittenReport:
    html: Path | None
    markdown: Path | None
    html_bytes: int
    markdown_chars: int

    def paths(self) -> str:
        """The files written, a line each (what ``report`` prints on stdout)."""
        return "".join(f"{path}\n" for path in (self.html, self.markdown) if path is not None)

    def line(self) -> str:
        return f"report: {self.html_bytes:,} bytes of HTML, {self.markdown_chars:,} characters of Markdown"


def write_reports(context: Mapping[str, Any], *, html: Path | None, markdown: Path | None) -> WrittenReport:
    from analyzer.present.html import render_html  # jinja2: only for the commands that write a report
    from analyzer.present.markdown import render_markdown

    outputs: list[tuple[Path, str]] = []
    if html is not None:
        outputs.append((html, render_html(context)))
    if markdown is not None:
        outputs.append((markdown, render_markdown(context)))
    _write_all(outputs)
    html_bytes = len(outputs[0][1].encode("utf-8")) if html is not None else 0
    markdown_chars = len(outputs[-1][1]) if markdown is not None else 0
    return WrittenReport(html, markdown, html_bytes, markdown_chars)


def _write_all(outputs: Sequence[tuple[Path, str]]) -> None:
    """Each file to a ``.tmp`` beside it, then all renamed into place: a path that cannot be written
    leaves no report written, half-written, or in a folder made for it."""
    staged: list[Path] = []
    made: list[Path] = []
    path = Path()
    try:
        for path, text in outputs:
            made += [p for p in reversed(path.parents) if not p.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            tmp = path.with_name(path.name + ".tmp")
            staged.append(tmp)
            tmp.write_text(text, encoding="utf-8")
        for (path, _), tmp in zip(outputs, staged, strict=True):
            tmp.replace(path)
    except OSError as exc:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise InputError(f"cannot write {path}: {exc.strerror}", hint="check the path and its permissions") from None


def write_output(path: Path, text: str) -> None:
    """A command's ``--output`` file (its folder must exist)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}", hint="check the path") from None
