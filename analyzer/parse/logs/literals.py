"""Words every match of a regex must contain, read from CPython's own regex parser.

The phase rules of a config are regexes searched in the lines of every step they apply to. A
word each match must contain lets the parser look for lines with ``bytes.find`` first and run the
regex only on those (ten times faster on a large log). That word comes from the regex's parse
tree, and the only parser of Python's regex syntax is the standard library's private
``re._parser`` (``sre_parse`` before 3.11). It is used here, and only here, on purpose:
writing a second parser of the same syntax would be a larger risk than a private API, and every
use is guarded: if the module is missing or anything about its tree surprises us, the functions
below answer ``None`` and the rule takes the slow path (decode the step's text and search it),
which gives the same phases. ``tests/test_logs.py`` checks the words found for the bundled
presets, so a change in CPython's tree shows up as a failing test, not as missed phases.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

PARSER: Any = None
try:  # the regex parser is private; without it every rule takes the slow path
    PARSER = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover
    PARSER = None


def alternative_words(rx: re.Pattern[str]) -> list[list[str]] | None:
    """For each top-level alternative of ``rx``, every word (>= 3 characters) that all its matches
    contain; None when an alternative has none."""
    if PARSER is None:
        return None
    try:
        items = list(PARSER.parse(rx.pattern, rx.flags))
    except Exception:  # any surprise in a private API means: that regex keeps its own words
        return None
    if len(items) == 1 and items[0][0] is PARSER.BRANCH:
        alternatives = [sequence_words(list(alt)) for alt in items[0][1][1]]
    else:
        alternatives = [sequence_words(items)]
    return alternatives if all(alternatives) else None


def sequence_words(items: list[Any]) -> list[str]:
    """The words (>= 3 characters) of a parsed sequence that every match passes through: its
    runs of literal word characters, and those of the plain groups in it."""
    consts = PARSER
    words: list[str] = []
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is consts.LITERAL and (chr(av).isalnum() or chr(av) == "_"):
            run.append(chr(av))
            continue
        if len(run) >= 3:
            words.append("".join(run))
        run = []
        if op is consts.SUBPATTERN and not av[1] and not av[2]:
            words += sequence_words(list(av[3]))
    return words


def branch_words(items: list[Any]) -> list[str] | None:
    """One required word per alternative of a parsed pattern (None if some branch has none)."""
    consts = PARSER  # re._parser re-exports the opcode constants
    if len(items) == 1 and items[0][0] is consts.BRANCH:
        out: list[str] = []
        for alt in items[0][1][1]:
            ws = branch_words(list(alt))
            if not ws:
                return None
            out += ws
        return out
    if len(items) == 1 and items[0][0] is consts.SUBPATTERN and not items[0][1][1] and not items[0][1][2]:
        return branch_words(list(items[0][1][3]))
    best = ""
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is consts.LITERAL and (chr(av).isalnum() or chr(av) == "_"):
            run.append(chr(av))
            continue
        word = "".join(run)
        if len(word) > len(best):
            best = word
        run = []
    if len(best) >= 3:
        return [best]
    for op, av in items:  # a group or an alternation that every match passes through
        if op is consts.SUBPATTERN and not av[1] and not av[2]:
            ws = branch_words(list(av[3]))
        elif op is consts.BRANCH:  # e.g. after the parser factored out a common prefix: t(ekton…|imed…)
            ws = branch_words([(op, av)])
        else:
            continue
        if ws:
            return ws
    return None
