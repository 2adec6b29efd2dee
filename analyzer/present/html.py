"""The HTML report: the jinja2 templates in ``templates/`` filled with the report context.

Autoescape on (log text is untrusted), undefined variables fail loudly; the page is
self-contained (inline SVG and CSS, no scripts, no network).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.bccache

from analyzer.formatting import shorten_name
from analyzer.present.text import dur, pct

_OPTIONS: dict[str, Any] = {  # beside autoescape=True (log text is untrusted)
    "undefined": jinja2.StrictUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}


class _Compiled(jinja2.FileSystemBytecodeCache):
    """The templates compiled once per version of their text, as Python keeps bytecode: compiling
    ``report.html.j2`` is ~0.07 s of every report. jinja2's per-user cache directory (in the temp
    directory, created 0700 and refused unless the user's own); a file is the template's code for its exact
    text (jinja2 checks a checksum of the source), and its name carries jinja2's version and these options,
    which the code depends on too. The cache is an optimisation only: a directory that cannot be made, a
    file that cannot be read or written, or one that does not load, and the template is compiled as before."""

    def __init__(self) -> None:
        options = repr((jinja2.__version__, "autoescape", sorted(_OPTIONS.items(), key=str)))
        tag = hashlib.sha256(options.encode()).hexdigest()[:16]
        super().__init__(pattern=f"__we_advisor_{tag}_%s.cache")

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged file: compile instead (and write it again)
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return _Compiled()
    except (OSError, RuntimeError):  # no safe directory: no cache
        return None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analyzer.present", "templates"),
        autoescape=True,
        bytecode_cache=_bytecode_cache(),
        **_OPTIONS,
    )
    env.filters["dur"] = dur
    env.filters["pct"] = pct
    env.filters["middle"] = shorten_name  # labels cut in the middle: their distinguishing ends stay
    return env


def render_html(context: Mapping[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(**context)
