"""Failure signatures: excerpts of failed jobs clustered by what they say, with counts and trends.

Method (chosen by measured quality, see benchmarks/failures_bench.py): each excerpt is
normalized (:func:`analyzer.parse.failures.normalize`), identical normalized texts are merged, and the
distinct texts are embedded as TF-IDF over word unigrams and bigrams (placeholders such as
``<N>`` are words; idf is fitted on the distinct texts, so a frequent failure does not dilute
its own words) and grouped by average-linkage agglomerative clustering on cosine distance, cut
at :data:`THRESHOLD`.

Scale: an average-linkage cluster never joins two groups without a pair closer than the
threshold, so the clustering runs separately inside each connected component of the graph of
pairs closer than the threshold. That graph is found in row blocks (dense products for the
frequent words, sparse for the rest), so memory stays linear in the number of distinct texts;
a component is clustered exactly up to :data:`EXACT_MAX` texts; a larger one is first reduced by
merging near-duplicates (distance below a third of the threshold) into their most frequent
member.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from analyzer.config import job_url
from analyzer.model.generic import GENERIC_LINES
from analyzer.model.linkage import average_clusters, components
from analyzer.parse.failures import Excerpt, is_generic, normalize_line

THRESHOLD = 0.55  # cosine distance at which average-linkage merging stops
EXACT_MAX = 3000  # texts per connected component clustered exactly
BLOCK = 1024  # rows per block when building the neighbour graph
_ROLE_CODES = {"error": "e", "context": "c", "evidence": "v"}
CONTEXT = 0.3  # weight of a context line
DECAY = 1.0  # an error line's weight relative to the next one nearer the evidence (below 1 measured worse)
IDF_POWER = 3.0  # idf cubed: words that set failures apart outweigh the shared ones
_TOKEN_RE = re.compile(r"<[A-Z]+>|[A-Za-z_][A-Za-z0-9_]*|[^\sA-Za-z0-9_<>]")
TEMPLATE_LINES = 8
BACKGROUND = 2.0  # each of model.generic's lines counts as this many documents in the idf
_WORD_RE = re.compile(r"(?<![<\w])[A-Za-z]{2,}")  # words of a title, placeholders (<DUR>) not counted


def cluster_excerpts(excerpts: Sequence[Excerpt], *, threshold: float = THRESHOLD) -> list[int]:
    """A cluster label (0, 1, …, in order of first appearance) for each excerpt."""
    keys, inverse = _dedupe([signature_key(e) for e in excerpts])
    if not keys:
        return []
    labels = _cluster_distinct(keys, [int(c) for c in np.bincount(inverse)], threshold)
    return _relabel(labels[k] for k in inverse)


def baseline_labels(excerpts: Sequence[Excerpt]) -> list[int]:
    """The baseline: excerpts grouped by exact match of their normalized first error line."""
    return _relabel(normalize_line(e.first_error()) for e in excerpts)


def signature_key(excerpt: Excerpt) -> str:
    """What the clustering compares: the normalized excerpt, one ``<role letter>|<line>`` per line."""
    return "\n".join(f"{_ROLE_CODES[line.role]}|{normalize_line(line.text)}" for line in excerpt.lines)


# --------------------------------------------------------------------------------------------
# signatures


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed job attempt and its excerpt (built from the store: jobs, incidents, logs)."""

    job_id: int
    run_id: int
    run_attempt: int
    workflow: str
    job: str
    step: str | None
    kind: str  # the incident's kind
    occurred_at: datetime | None
    excerpt: Excerpt
    repo: str = ""


@dataclass(frozen=True, slots=True)
class Example:
    """A failure that shows a signature: where it happened, its most telling line (cleaned) and its
    page on GitHub (None for local logs)."""

    run_id: int
    run_attempt: int
    job_id: int
    line: str
    occurred_at: datetime | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Signature:
    """A group of failures that say the same thing.

    ``title`` is the group's most telling normalized line, ``template`` the normalized excerpt
    of its most central member (at most :data:`TEMPLATE_LINES` lines). ``trend`` compares the
    failures in the last ``window`` before ``now`` (``recent``) with the window before that
    (``previous``): ``new`` when the first one is in the last window; else ``growing`` when
    ``recent >= 2`` and ``recent >= 2 * previous``; ``fading`` when ``2 * recent <= previous``
    (so also when neither window has any); ``steady`` otherwise; ``unknown`` without times.
    """

    id: str
    title: str
    template: str
    count: int
    member_ids: tuple[int, ...]  # job ids, oldest first
    first_seen: datetime | None
    last_seen: datetime | None
    trend: str
    recent: int
    previous: int
    kinds: dict[str, int]
    jobs: dict[str, int]  # "workflow / job" -> failures
    steps: dict[str, int]
    examples: tuple[Example, ...]  # newest first

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the ``failures`` command's ``signatures`` entries."""
        return {
            "id": self.id, "title": self.title, "template": self.template, "count": self.count,
            "kinds": self.kinds, "jobs": self.jobs, "steps": self.steps,
            "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen),
            "trend": self.trend, "recent": self.recent, "previous": self.previous,
            "member_ids": list(self.member_ids),
            "examples": [{"run_id": e.run_id, "run_attempt": e.run_attempt, "job_id": e.job_id, "line": e.line,
                          "occurred_at": _iso(e.occurred_at), "url": e.url} for e in self.examples],
        }  # fmt: skip


def find_signatures(
    failures: Sequence[Failure],
    *,
    now: datetime | None = None,
    window: timedelta = timedelta(days=7),
    threshold: float = THRESHOLD,
    max_examples: int = 3,
    since: datetime | None = None,
) -> list[Signature]:
    """Cluster failures into signatures, most frequent first (ties: most recent first).

    ``now`` defaults to the latest ``occurred_at`` among the failures; ``window`` is the trend
    window (a week by default, so ``new`` reads "new this week"). With ``since``, failures
    before it are history: they are clustered with the others and count for ``first_seen`` and
    the trend, but not for ``count``, kinds, jobs, steps, members or examples, and a signature
    seen only before ``since`` is left out (a failure without a time counts as recent).
    """
    if not failures:
        return []
    texts = [signature_key(f.excerpt) for f in failures]
    keys, inverse = _dedupe(texts)
    weights = [int(c) for c in np.bincount(inverse)]
    labels = _cluster_distinct(keys, weights, threshold)
    members: dict[int, list[int]] = {}
    for i, k in enumerate(inverse):
        members.setdefault(labels[k], []).append(i)
    times = [f.occurred_at for f in failures if f.occurred_at is not None]
    if now is None and times:
        now = max(times)
    line_df = Counter(line for key in keys for line in set(_cause_lines(key)))
    out = []
    for idx in members.values():
        recent = [i for i in idx if _counts(failures[i].occurred_at, since)]
        if recent:
            out.append(_signature(failures, texts, idx, recent, now, window, max_examples, line_df, len(keys)))
    out.sort(key=lambda s: (-s.count, -(s.last_seen.timestamp() if s.last_seen else 0.0), s.title))
    seen: Counter[str] = Counter()
    for k, sig in enumerate(out):  # ids stay unique when two titles hash alike
        seen[sig.id] += 1
        if seen[sig.id] > 1:
            object.__setattr__(out[k], "id", f"{sig.id}-{seen[sig.id]}")
    return out


def trend(times: Sequence[datetime], now: datetime | None, window: timedelta) -> tuple[str, int, int]:
    """(trend, recent, previous) for occurrence times; see :class:`Signature` for the rule."""
    if not times or now is None:
        return "unknown", 0, 0
    recent = sum(now - window < t <= now for t in times)
    previous = sum(now - 2 * window < t <= now - window for t in times)
    if min(times) > now - window:
        return "new", recent, previous
    if recent >= 2 and recent >= 2 * previous:
        return "growing", recent, previous
    if 2 * recent <= previous:
        return "fading", recent, previous
    return "steady", recent, previous


def _signature(
    failures: Sequence[Failure], texts: Sequence[str], idx: list[int], counted: list[int], now: datetime | None,
    window: timedelta, max_examples: int, line_df: Counter[str], n_keys: int,
) -> Signature:  # fmt: skip
    """One cluster (``idx``, history included) as a signature of its ``counted`` members."""
    times = [t for t in (failures[i].occurred_at for i in idx) if t is not None]
    group = [failures[i] for i in counted]
    seen = [f.occurred_at for f in group if f.occurred_at is not None]
    central = Counter(texts[i] for i in idx).most_common(1)[0][0]
    template_lines = [ln[2:] for ln in central.split("\n") if ln[2:].strip()]
    title = _title(central, [texts[i] for i in idx], line_df, n_keys)
    label, recent, previous = trend(times, now, window)
    by_time = sorted(group, key=lambda f: (f.occurred_at is None, f.occurred_at or datetime.min, f.job_id))
    newest = sorted(group, key=lambda f: (f.occurred_at is not None, f.occurred_at or datetime.min, f.job_id))[::-1]
    examples = tuple(
        Example(f.run_id, f.run_attempt, f.job_id, _telling_line(f.excerpt, title), f.occurred_at, job_url(f.repo, f.run_id, f.job_id))
        for f in newest[:max_examples]
    )
    return Signature(
        id=signature_id(title, failed_tests(central)),
        title=title,
        template="\n".join(template_lines[-TEMPLATE_LINES:]),
        count=len(group),
        member_ids=tuple(f.job_id for f in by_time),
        first_seen=min(times) if times else None,
        last_seen=max(seen) if seen else None,
        trend=label,
        recent=recent,
        previous=previous,
        kinds=dict(Counter(f.kind for f in group).most_common()),
        jobs=dict(Counter(f"{f.workflow} / {f.job}" for f in group).most_common()),
        steps=dict(Counter(f.step for f in group if f.step).most_common()),
        examples=examples,
    )


def signature_id(title: str, tests: frozenset[str]) -> str:
    """``sig-`` and 10 hex digits of a hash of the title and the failed tests: the same failure keeps
    its id from run to run and week to week (as long as its title reads the same)."""
    text = "\n".join([title, *sorted(tests)])
    return "sig-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]  # noqa: S324 (a name, not security)


def _counts(when: datetime | None, since: datetime | None) -> bool:
    return since is None or when is None or when >= since


def _cause_lines(key: str) -> list[str]:
    return [entry[2:] for entry in key.split("\n") if entry[:1] in ("e", "v") and entry[2:].strip()]


def _title(central: str, keys: Sequence[str], line_df: Counter[str], n_keys: int) -> str:
    """The central member's most telling cause line: one most of the group shares and few other
    failures have (ties go to a line naming the failed test, then to the line with more words, so
    ``panic: test timed out after <DUR>`` beats the ``running tests:`` after it, then to the line
    nearest the evidence); the runner's generic ending last."""
    lines = _cause_lines(central) or [entry[2:] for entry in central.split("\n")] or [""]
    distinct = set(keys)
    share = Counter(line for key in distinct for line in set(_cause_lines(key)))

    def score(k: int) -> tuple[bool, float, bool, int, int]:
        line = lines[k]
        rarity = math.log((1.0 + n_keys) / (1.0 + line_df.get(line, 0)))
        words = len(_WORD_RE.findall(line))
        names_test = bool(failed_tests(f"e|{line}"))
        return not is_generic(line), round(share[line] / len(distinct) * rarity, 9), names_test, words, k

    return lines[max(range(len(lines)), key=score)]


def _telling_line(excerpt: Excerpt, title: str) -> str:
    """The excerpt's line that reads as the signature's title, else its last specific error line."""
    same = [ln.text for ln in excerpt.lines if ln.role != "context" and normalize_line(ln.text) == title]
    if same:
        return same[-1]
    lines = [ln.text for ln in excerpt.lines if ln.role == "error" and not is_generic(ln.text)]
    if lines:
        return lines[-1]
    return next((ln.text for ln in excerpt.lines if ln.role == "evidence"), "")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# clustering


def _dedupe(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    index: dict[str, int] = {}
    inverse = [index.setdefault(t, len(index)) for t in texts]
    return list(index), inverse


def _relabel(keys: Any) -> list[int]:
    seen: dict[Any, int] = {}
    return [seen.setdefault(k, len(seen)) for k in keys]


def _analyze(line: str) -> list[str]:
    """Features of one normalized line: its words, its word pairs, and the whole line."""
    words = _TOKEN_RE.findall(line)
    return [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words)), "\x00" + line]


def _vectorize(keys: Sequence[str]) -> csr_matrix:
    """One L2-normalized row per signature key.

    A row is the sum of its lines; a line is its features (words, word pairs, the whole line)
    times their idf over the keys, divided by the square root of its feature count (so a line
    weighs the root-mean-square of its idf: long lines do not drown short ones, and a line of
    common words such as ``Process completed with exit code 1.`` weighs little). Error and
    evidence lines use idf to the power :data:`IDF_POWER`, so the words that set one failure
    apart from the others outweigh a test runner's shared summary lines; context lines use
    plain idf times :data:`CONTEXT`, so they matter only where there is little else.
    """
    line_ids: dict[str, int] = {}
    entries: dict[bool, tuple[list[int], list[int], list[float]]] = {True: ([], [], []), False: ([], [], [])}
    for d, key in enumerate(keys):
        errors_after = 0  # error lines between this one and the evidence
        for entry in reversed(key.split("\n")):
            text = entry[2:]
            if text.strip():
                rows, cols, vals = entries[entry[:1] != "c"]
                rows.append(d)
                cols.append(line_ids.setdefault(text, len(line_ids)))
                vals.append(DECAY**errors_after if entry[:1] == "e" else 1.0)
                errors_after += entry[:1] == "e"
    n = len(keys)
    if not line_ids:
        return csr_matrix((n, 1), dtype=np.float32)
    vocabulary, lines = binary_counts(list(line_ids))
    _, generic = binary_counts(_generic_lines(), vocabulary)
    scale = (1.0 / np.sqrt(np.maximum(np.diff(lines.indptr), 1))).astype(np.float32)
    lines = csr_matrix(lines.multiply(scale[:, np.newaxis]))
    cause, context = (
        csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(n, len(line_ids)))
        for rows, cols, vals in (entries[True], entries[False])
    )
    cause.sum_duplicates()
    context.sum_duplicates()
    present = csr_matrix((cause + context) @ lines)
    df = np.bincount(present.indices, minlength=present.shape[1])  # keys holding each feature
    df = df + BACKGROUND * np.bincount(generic.indices, minlength=present.shape[1])
    idf = (np.log((1.0 + n + BACKGROUND * generic.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)
    total = csr_matrix(cause @ lines).multiply(idf**IDF_POWER) + CONTEXT * csr_matrix(context @ lines).multiply(idf)
    return csr_matrix(normalize_l2(csr_matrix(total)), dtype=np.float32)


def binary_counts(docs: Sequence[str], vocabulary: dict[str, int] | None = None) -> tuple[dict[str, int], csr_matrix]:
    """scikit-learn's ``CountVectorizer(analyzer=_analyze, binary=True, dtype=np.float32)``: its
    ``fit_transform`` (``vocabulary`` None: the features of ``docs``, numbered in sorted order) or its
    ``transform`` (a fitted ``vocabulary``: features outside it dropped), built as it builds them —
    numbered as first seen, indices sorted, all columns kept (``X[:, all]``), renumbered in sorted
    order — so that each row's indices come in the same order and the sparse products after it
    add up in the same order (importing scikit-learn's text module costs 0.6 s)."""
    fixed = vocabulary is not None
    seen: dict[str, int] = dict(vocabulary) if vocabulary is not None else {}
    j_indices: list[int] = []
    indptr = [0]
    for doc in docs:
        counter: dict[int, int] = {}
        for feature in _analyze(doc):
            index = seen.get(feature)
            if index is None:
                if fixed:
                    continue
                index = seen[feature] = len(seen)
            counter[index] = 1
        j_indices.extend(counter)
        indptr.append(len(j_indices))
    if not seen:
        raise ValueError("empty vocabulary")
    x = csr_matrix(
        (np.ones(len(j_indices), dtype=np.float32), np.asarray(j_indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
        shape=(len(indptr) - 1, len(seen)),
        dtype=np.float32,
    )
    x.sort_indices()
    if fixed:
        return seen, x
    x = csr_matrix(x[:, np.arange(len(seen))])
    order = sorted(seen.items())
    renumber = np.empty(len(order), dtype=x.indices.dtype)
    for new, (feature, old) in enumerate(order):
        seen[feature] = new
        renumber[old] = new
    x.indices = renumber.take(x.indices, mode="clip")
    return seen, x


def normalize_l2(x: csr_matrix) -> csr_matrix:
    """scikit-learn's ``normalize(x, norm="l2", copy=False)`` of a float32 CSR matrix, in place: each
    row's squares (float32) added one after another in double precision, the row divided by the
    root in double and stored as float32; empty rows left alone."""
    data = x.data
    squares = (data * data).astype(np.float64)
    for i in range(x.shape[0]):
        a, b = int(x.indptr[i]), int(x.indptr[i + 1])
        if a == b:
            continue
        total = float(np.cumsum(squares[a:b])[-1])  # cumsum adds in order (a sum would pair them)
        if total == 0.0:
            continue
        data[a:b] = (data[a:b].astype(np.float64) / np.sqrt(total)).astype(data.dtype)
    return x


@functools.cache
def _generic_lines() -> list[str]:
    return [normalize_line(line) for line in GENERIC_LINES]


def _cluster_distinct(keys: Sequence[str], weights: Sequence[int], threshold: float) -> list[int]:
    """Labels for distinct texts (weights = how often each occurred)."""
    n = len(keys)
    if n == 1:
        return [0]
    x = _vectorize(keys)
    tests = _TestSets([failed_tests(key) for key in keys])
    component = components(n, *_neighbour_pairs(x, 1.0 - threshold))
    labels = np.empty(n, dtype=np.int64)
    next_label = 0
    for members in _groups(component):
        if len(members) == 1:
            labels[members[0]] = next_label
            next_label += 1
            continue
        sub = _cluster_component(x[members], [weights[i] for i in members], threshold, tests.of(members))
        labels[members] = sub + next_label
        next_label += int(sub.max()) + 1
    return [int(v) for v in labels]


def _groups(component: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(component, kind="stable")
    cuts = np.flatnonzero(np.diff(component[order])) + 1
    return list(np.split(order, cuts))


def _neighbour_pairs(x: csr_matrix, min_similarity: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows (i < j) with cosine similarity >= ``min_similarity`` (rows are L2-normalized).

    Columns used by many rows go through dense products (BLAS), the rest through sparse ones;
    the two parts add up to the exact similarity because they share no column.
    """
    n = x.shape[0]
    df = np.bincount(x.indices, minlength=x.shape[1])
    common = np.flatnonzero(df > max(32, n // 50))
    rare = np.flatnonzero(df <= max(32, n // 50))
    xc = x[:, common].toarray() if len(common) else None
    xr = csr_matrix(x[:, rare])
    xr_t = csr_matrix(xr.T)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        sim = np.asarray((xr[start:stop] @ xr_t).todense(), dtype=np.float32)
        if xc is not None:
            sim += xc[start:stop] @ xc.T
        r, c = np.nonzero(sim >= min_similarity - 1e-6)
        keep = c > r + start
        rows.append(r[keep] + start)
        cols.append(c[keep])
    row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    return row, col


def _cluster_component(x: csr_matrix, weights: Sequence[int], threshold: float, tests: _TestSets) -> np.ndarray:
    """Average-linkage labels (0-based) inside one connected component."""
    n = x.shape[0]
    if n <= EXACT_MAX:
        return _average_linkage(x, threshold, tests)
    # Too many for an exact n² distance matrix: fold near-duplicates into their most frequent
    # member, cluster those leaders exactly, and give every member its leader's label.
    leader = _leaders(x, weights, threshold / 3.0, tests)
    heads = np.unique(leader)
    if len(heads) > EXACT_MAX:  # still too many: keep the finest exact clustering we can afford
        heads = heads[np.argsort([-weights[h] for h in heads], kind="stable")][:EXACT_MAX]
        leader = _nearest(x, heads, tests)
    head_labels = _average_linkage(x[heads], threshold, tests.of(heads))
    position = {int(h): k for k, h in enumerate(heads)}
    return np.array([head_labels[position[int(leader[i])]] for i in range(n)], dtype=np.int64)


def _average_linkage(x: csr_matrix, threshold: float, tests: _TestSets) -> np.ndarray:
    if x.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    dense = x @ x.T
    sim = np.asarray(dense.todense(), dtype=np.float64)
    dist = np.clip(1.0 - sim, 0.0, 2.0)
    dist[tests.conflicts()] = 1.0  # different failed tests: never the same cause
    return average_clusters(dist, threshold)


def _leaders(x: csr_matrix, weights: Sequence[int], radius: float, tests: _TestSets) -> np.ndarray:
    """Greedy leader pass: in order of weight, a row joins the nearest leader within ``radius``
    (that did not fail other tests) or becomes a leader itself."""
    leader = np.empty(x.shape[0], dtype=np.int64)
    heads: list[int] = []
    for i in np.argsort([-w for w in weights], kind="stable"):
        if heads:
            sim = np.asarray((x[heads] @ x[int(i)].T).todense()).ravel()
            sim[tests.conflicts_with(int(i), heads)] = -1.0
            best = int(np.argmax(sim))
            if sim[best] >= 1.0 - radius:
                leader[i] = heads[best]
                continue
        heads.append(int(i))
        leader[i] = i
    return leader


def _nearest(x: csr_matrix, heads: np.ndarray, tests: _TestSets) -> np.ndarray:
    out = np.empty(x.shape[0], dtype=np.int64)
    xh_t = csr_matrix(x[heads].T)
    for start in range(0, x.shape[0], BLOCK):
        sim = np.asarray((x[start : start + BLOCK] @ xh_t).todense())
        sim[tests.conflicts_between(np.arange(start, min(start + BLOCK, x.shape[0])), heads)] = -1.0
        out[start : start + BLOCK] = heads[np.argmax(sim, axis=1)]
    return out


# --------------------------------------------------------------------------------------------
# failed tests: two failures that failed different tests are never one signature

_GO_TEST_RE = re.compile(r"^\s*--- FAIL: (\S+)")
_GO_PACKAGE_RE = re.compile(r"^FAIL\s+(\S+)\s+(?:<DUR>|\(cached\)|\[)")  # FAIL <package> 0.12s: the tests above it
_GINKGO_SPEC_RE = re.compile(r"^\s*\[FAIL\] (.+)$")  # Ginkgo's summary: the specs of one go test
_FAILED_TEST_RES = tuple(
    re.compile(p)
    for p in (
        r"^FAILED (\S+)",  # pytest
        r"^_{3,} (\S+) _{3,}$",  # pytest's section header
        r"^\s*● (.+ › .+)$",  # jest
        r"^\s*[✕✗×] (.+?)(?: \(<(?:N|DUR)>(?: ?ms)?\))?$",  # jest, vitest, mocha
        r"^test (\S+) \.\.\. FAILED$",  # cargo test
        r"^rspec (\./\S+)",  # rspec
        r"<<< FAILURE!.* in (\S+)$",  # surefire
    )
)


def failed_tests(key: str) -> frozenset[str]:
    """The tests a signature key's cause lines say failed: Ginkgo specs (rather than the go test that
    runs them), go tests (the innermost subtests, as ``package.Test`` when the package's ``FAIL``
    line is there), pytest, jest, cargo, rspec and JUnit tests."""
    go: set[str] = set()
    pending: set[str] = set()
    specs: set[str] = set()
    other: set[str] = set()
    for line in _cause_lines(key):
        if match := _GO_TEST_RE.search(line):
            pending.add(match.group(1))
        elif match := _GO_PACKAGE_RE.search(line):
            go.update(f"{match.group(1)}.{name}" for name in pending)
            pending.clear()
        elif match := _GINKGO_SPEC_RE.search(line):
            specs.add(match.group(1))
        else:
            other.update(m.group(1) for m in (p.search(line) for p in _FAILED_TEST_RES) if m)
    go |= pending
    if specs:
        go.clear()
    go = {name for name in go if not any(o.startswith(name + "/") for o in go)}
    return frozenset(go | specs | other)


def _same_test(a: str, b: str) -> bool:
    """The same test, one of them perhaps without its go package."""
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _disjoint(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and bool(b) and not any(_same_test(x, y) for x in a for y in b)


class _TestSets:
    """The failed-test sets of some keys, and which pairs conflict: both name failed tests and no
    test is in both (a failure that names none conflicts with nothing)."""

    def __init__(self, sets: Sequence[frozenset[str]], *, index: np.ndarray | None = None, table: np.ndarray | None = None):
        if index is None or table is None:
            distinct = list(dict.fromkeys(sets))
            where = {s: k for k, s in enumerate(distinct)}
            index = np.array([where[s] for s in sets], dtype=np.int64)
            table = np.array([[_disjoint(a, b) for b in distinct] for a in distinct], dtype=bool)
        self.index, self.table = index, table

    def of(self, members: np.ndarray) -> _TestSets:
        return _TestSets((), index=self.index[members], table=self.table)

    def conflicts(self) -> np.ndarray:
        return np.asarray(self.table[np.ix_(self.index, self.index)], dtype=bool)

    def conflicts_with(self, row: int, others: Sequence[int]) -> np.ndarray:
        return np.asarray(self.table[self.index[row], self.index[list(others)]], dtype=bool)

    def conflicts_between(self, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
        return np.asarray(self.table[np.ix_(self.index[rows], self.index[others])], dtype=bool)
