"""``[[phases]]`` rules compiled for the parser, with the words that find their lines fast."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from analyzer.config import PhaseRule
from analyzer.errors import ConfigError
from analyzer.parse.logs.literals import PARSER, alternative_words, branch_words


class Folded(bytes):
    """A lower-case ASCII word of a case-insensitive rule, searched for in ``buf.lower()``: a
    case-insensitive ``bytes.find`` (CPython's regex engine has no fast search under IGNORECASE:
    on 3 MB, 11 ms against 1.3 ms for the lowering and 1.3 ms for the find)."""


# Words one of which is on every line a rule regex can match (bytes.find; Folded: case-insensitive).
Prefilter = tuple[bytes, ...]


@dataclass(slots=True)
class CompiledRule:
    rule: PhaseRule
    start: re.Pattern[str]
    end: re.Pattern[str] | None
    step: re.Pattern[str] | None
    start_lits: Prefilter | None
    end_lits: Prefilter | None
    start_ml: re.Pattern[str] = field(init=False)
    end_ml: re.Pattern[str] | None = field(init=False)

    def __post_init__(self) -> None:
        self.start_ml = re.compile(self.start.pattern, self.start.flags | re.MULTILINE)
        self.end_ml = re.compile(self.end.pattern, self.end.flags | re.MULTILINE) if self.end else None


@functools.lru_cache(maxsize=256)
def compile_rule(rule: PhaseRule) -> CompiledRule:
    """A rule's compiled regexes and prefilter literals (cached: rules repeat across logs)."""
    try:
        start = re.compile(rule.start)
        end = re.compile(rule.end) if rule.end else None
        step = re.compile(rule.step) if rule.step else None
    except re.error as exc:
        raise ConfigError(f"phase {rule.name!r}: invalid regex: {exc}", hint="fix the [[phases]] entry") from None
    return CompiledRule(rule, start, end, step, required_literals(start), required_literals(end) if end else None)


@functools.lru_cache(maxsize=64)
def compile_rules(rules: tuple[PhaseRule, ...]) -> tuple[CompiledRule, ...]:
    """The rules compiled, their starts searched for by shared words where they can be.

    Every rule's start is searched for in every step it applies to, so starts with a word in
    common (``Waiting for …``, ``Building …``, ``Deploying …``) are found by one scan for that word
    instead of one scan each: the bundled kubernaut-e2e rules need 6 scans instead of 11. Ends keep
    their longest word: they are searched for only after a start, and a shared word would be a
    common one ("ready", "condition").
    """
    compiled = [compile_rule(r) for r in rules]
    shared = _shared_words([c.start for c in compiled])
    return tuple(replace(c, start_lits=shared[i]) if i in shared else c for i, c in enumerate(compiled))


def _shared_words(regexes: Sequence[re.Pattern[str]]) -> dict[int, Prefilter]:
    """For some of ``regexes`` (by index), words that find every line it can match, chosen so
    that the regexes share as few words as possible (greedy set cover over their top-level
    alternatives; words shorter than 5 characters are not shared: "for", "pod" are everywhere)."""
    elements: list[tuple[int, set[str]]] = []  # (regex, the words one of which every match of one alternative holds)
    for i, rx in enumerate(regexes):
        alternatives = None if rx.flags & re.IGNORECASE else alternative_words(rx)
        if alternatives is not None:
            elements += [(i, set(words)) for words in alternatives]
    chosen: dict[int, set[str]] = {}
    todo = list(range(len(elements)))
    while todo:
        count = Counter(w for k in todo for w in elements[k][1])
        best = max(count, key=lambda w: (count[w] if len(w) >= 5 else 1, len(w), w))
        for k in [k for k in todo if best in elements[k][1]]:
            chosen.setdefault(elements[k][0], set()).add(best)
            todo.remove(k)
    return {i: tuple(sorted(w.encode("utf-8") for w in words)) for i, words in chosen.items()}


def required_literals(rx: re.Pattern[str]) -> Prefilter | None:
    """Searches that together find every line ``rx`` can match (one word of >= 3 characters per
    alternative), or None when there are none.

    ANSI colour codes sit between words, not inside them, so a line whose clean text matches
    contains such a word verbatim in its raw bytes.
    """
    if PARSER is None:
        return None
    try:
        words = branch_words(list(PARSER.parse(rx.pattern, rx.flags)))
    except Exception:  # any surprise in a private API means: no prefilter
        return None
    if not words:
        return None
    encoded = sorted({w.encode("utf-8") for w in words})
    if not rx.flags & re.IGNORECASE:
        return tuple(encoded)
    if not all(w.isascii() for w in encoded):
        return None  # Unicode case folding (e.g. the long s) is beyond a bytes search
    return tuple(Folded(w) for w in sorted({w.lower() for w in encoded}))


def rule_words(rules: Sequence[PhaseRule]) -> list[bytes]:
    """The words the parser searches for to find the lines of ``rules`` (a ``Folded`` word is
    searched case-insensitively); a rule without such words has its steps decoded instead."""
    found = {
        (isinstance(word, Folded), bytes(word)): word
        for compiled in compile_rules(tuple(rules))
        for words in (compiled.start_lits, compiled.end_lits)
        for word in words or ()
    }
    return [found[key] for key in sorted(found)]
