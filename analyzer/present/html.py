"""The HTML report: the jinja2 templates in ``templates/`` filled with the report context.

Autoescape on (log text is untrusted), undefined variables fail loudly; the page is
self-contained (inline SVG and CSS, no scripts, no network).
"""

from __future__ import annotations

import contextlib
import hashlib
import types
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
    ``report.html.j2`` is ~0.1 s of every report. Kept in we-advisor's per-user cache directory
    (``analyzer.cache.directory``: made 0700, refused unless the user's own and no link; ``off`` turns it
    off); a file is the template's code for its exact text (jinja2 checks a checksum of the source), and its
    name carries everything else the code depends on: jinja2's version, the environment's options and how
    each filter is called. The cache is an optimisation only: no directory, a file that cannot be read or
    written, or one that does not load, and the template is compiled as before (``render_html`` also renders
    once more without it when rendering from it fails). ``fresh``: load nothing, write what is compiled."""

    def __init__(self, env: jinja2.Environment, directory: str, *, fresh: bool = False) -> None:
        filters = sorted(
            (name, getattr(f, "__module__", ""), getattr(f, "__qualname__", repr(f)), repr(getattr(f, "jinja_pass_arg", None)))
            for name, f in env.filters.items()
        )
        options = repr((jinja2.__version__, env.autoescape, sorted(_OPTIONS.items(), key=str), filters))
        from analyzer import cache

        super().__init__(directory, pattern=cache.template_pattern(hashlib.sha256(options.encode()).hexdigest()[:16]))
        self.fresh = fresh

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if self.fresh:
            return
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged file: compile instead (and write it again)
            bucket.reset()
        code: object = bucket.code
        if code is not None and not isinstance(code, types.CodeType):  # not a template's code
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        from analyzer import cache

        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)
        cache.tidy(self.directory)  # what the cache keeps no longer goes (a new template's files come)


def _environment(*, fresh: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analyzer.present", "templates"),
        autoescape=True,
        **_OPTIONS,
    )
    env.filters["dur"] = dur
    env.filters["pct"] = pct
    env.filters["middle"] = shorten_name  # labels cut in the middle: their distinguishing ends stay
    env.bytecode_cache = _bytecode_cache(env, fresh=fresh)
    return env


def _bytecode_cache(env: jinja2.Environment, *, fresh: bool = False) -> jinja2.BytecodeCache | None:
    from analyzer import cache

    where = cache.directory()
    return None if where is None else _Compiled(env, str(where), fresh=fresh)  # (none safe, or off: no cache)


def render_html(context: Mapping[str, Any]) -> str:
    env = _environment()
    try:
        return env.get_template("report.html.j2").render(**context)
    except Exception:
        if env.bytecode_cache is None:
            raise
    # compiled code from the cache that does not fit this code: compiled afresh, and the cache written again
    # (a fault of the template or the context raises again, as it would have)
    return _environment(fresh=True).get_template("report.html.j2").render(**context)
