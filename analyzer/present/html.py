"""The HTML report: the jinja2 templates in ``templates/`` filled with the report context.

Autoescape on (log text is untrusted), undefined variables fail loudly; the page is
self-contained (inline SVG and CSS, no scripts, no network).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from analyzer.formatting import shorten_name
from analyzer.present.text import dur, pct


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analyzer.present", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dur"] = dur
    env.filters["pct"] = pct
    env.filters["middle"] = shorten_name  # labels cut in the middle: their distinguishing ends stay
    return env


def render_html(context: Mapping[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(**context)
