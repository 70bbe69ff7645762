"""What the cues of `zh_context` say about each finding, and the cue behind every attribute.

`Marks` holds, per finding and category, the cues that set it (token offsets), so every
attribute comes with its reason (`span._.context_cues`). `reach` finds the findings a cue
applies to by binary search inside its scope, so a record's cost grows with its length.

This file is shipped in the wheel: it imports nothing from `zh_medner`.
"""

import bisect
from dataclasses import dataclass
from pathlib import Path

from spacy.tokens import Doc, Span

try:
    from .context_rules import EXTENSIONS, Rule
except ImportError:  # `spacy package` imports each code file alone, outside its package
    from spacy.util import import_file

    _rules = import_file("context_rules", Path(__file__).with_name("context_rules.py"))
    EXTENSIONS, Rule = _rules.EXTENSIONS, _rules.Rule

NEGATED, UNCERTAIN = "NEGATED", "UNCERTAIN"
CUES_EXTENSION = "context_cues"


@dataclass
class Cue:
    start: int
    end: int
    rule: Rule
    inside: tuple[int, ...] = ()  # the findings it sits in (a cue inside a finding)


class Targets:
    """The findings of a doc, sorted, with what a cue needs to find them fast."""

    def __init__(self, spans: list[Span], n_tokens: int):
        self.spans = sorted(spans, key=lambda s: (s.start, s.end))
        self.starts = [s.start for s in self.spans]
        ends = sorted((s.end, i) for i, s in enumerate(self.spans))
        self.end_keys, self.end_index = [e for e, _ in ends], [i for _, i in ends]
        self.longest = max(s.end - s.start for s in self.spans)
        self.covered = bytearray(n_tokens)
        for s in self.spans:
            self.covered[s.start : s.end] = b"\x01" * (s.end - s.start)

    def containing(self, start: int, end: int) -> tuple[int, ...]:
        """The findings that hold tokens [start, end) whole."""
        j = bisect.bisect_right(self.starts, start) - 1
        out = []
        while j >= 0 and self.starts[j] >= start - self.longest:
            if self.spans[j].end >= end:
                out.append(j)
            j -= 1
        return tuple(out)

    def after(self, lo: int, hi: int) -> list[int]:
        """Findings that start in [lo, hi), in order."""
        return list(range(bisect.bisect_left(self.starts, lo), bisect.bisect_left(self.starts, hi)))

    def before(self, lo: int, hi: int) -> list[int]:
        """Findings that end in (lo, hi], in order of their end."""
        a, b = bisect.bisect_right(self.end_keys, lo), bisect.bisect_right(self.end_keys, hi)
        return self.end_index[a:b]


def _within_gap(found: list[int], spans, at: int, gap: int, joined, forward: bool) -> list[int]:
    """Of the findings in a cue's scope (nearest first), those it reaches with `max_gap`: the
    first if at most `gap` tokens from the cue, then each joined to the one before by an
    enumeration (没发烧、咳嗽; 肝炎、肝硬化都没有)."""
    out, edge = [], at
    for i in found:
        span = spans[i]
        a, b = (edge, span.start) if forward else (span.end, edge)
        if not (b - a <= gap if not out else b <= a or joined(a, b)):
            break
        out.append(i)
        edge = max(edge, span.end) if forward else min(edge, span.start)
    return out


def reach(cue: Cue, targets: Targets, limits, joined) -> tuple[list[int], list[int], list[int]]:
    """(hits, forward hits, the nearest hit) of a cue outside findings. `limits(cue, forward)`
    gives the end (or start) of its scope; `joined(a, b)`: tokens [a, b) only join a list."""
    rule, spans, hits, nearest, forward = cue.rule, targets.spans, [], [], []
    if rule.direction != "backward":
        found = targets.after(cue.end, limits(cue, True))
        found = [i for i in found if rule.applies_to(spans[i].label_)]
        nearest += found[:1]  # a negator next to it, gap or not (没有哪顿饭不吐的)
        if rule.max_gap is not None:
            found = _within_gap(found, spans, cue.end, rule.max_gap, joined, True)
        forward = found
        hits += found
    if rule.direction in ("backward", "bidirectional") or (
        rule.direction == "nearest" and not hits
    ):
        found = targets.before(limits(cue, False), cue.start)
        found = [i for i in reversed(found) if rule.applies_to(spans[i].label_)]
        nearest += found[:1]
        if rule.max_gap is not None:
            found = _within_gap(found, spans, cue.start, rule.max_gap, joined, False)
        hits += found
    return hits, forward, nearest


def inside_hits(cue: Cue, targets: Targets) -> list[int]:
    """The findings a cue inside them reaches: those it opens (不烧), or any it sits in when
    its rule says `inside: anywhere` (体重无明显变化)."""
    spans, rule = targets.spans, cue.rule
    return [
        i
        for i in cue.inside
        if (rule.inside == "anywhere" or spans[i].start == cue.start)
        and rule.applies_to(spans[i].label_)
    ]


class Marks:
    """Per finding: category -> the (start, end) tokens of the cues that set it."""

    def __init__(self, n: int):
        self.cues = [{c: [] for c in EXTENSIONS} for _ in range(n)]
        self.negators: list[set] = [set() for _ in range(n)]  # negation cues next to each
        self.denied = [False] * n  # negated by a cue before it (否认, 没有), not a later 好了
        self.deferred: list[tuple[Cue, list[int]]] = []

    def add(self, cue: Cue, hits, forward, nearest) -> None:
        if cue.rule.unless:
            self.deferred.append((cue, hits))
            return
        for i in hits:
            for category in cue.rule.categories:
                self.cues[i][category].append((cue.start, cue.end))
        if NEGATED in cue.rule.categories:
            for i in nearest:
                self.negators[i].add(cue.start)
            for i in forward:
                self.denied[i] = True

    def resolve(self) -> None:
        """Double negation cancels (没有一天不头疼); then rules with `unless` apply."""
        for i, next_to in enumerate(self.negators):
            if len(next_to) >= 2:
                self.cues[i][NEGATED].clear()
                self.denied[i] = False
        for cue, hits in self.deferred:
            for i in hits:
                # `unless: NEGATED` means denied: 否认高血压病史 (a later 已治愈 keeps the history)
                if not any(
                    self.denied[i] if u == NEGATED else self.cues[i][u] for u in cue.rule.unless
                ):
                    for category in cue.rule.categories:
                        self.cues[i][category].append((cue.start, cue.end))

    def last_word(self) -> None:
        """Negated and uncertain at once: the later cue wins. 好像没有吧, 不是胃炎吧 are
        uncertain; 问我有没有发烧，我说没有 is negated."""
        for cues in self.cues:
            negated, uncertain = cues[NEGATED], cues[UNCERTAIN]
            if negated and uncertain:
                later = max(uncertain)[0] > max(negated)[0]
                (negated if later else uncertain).clear()

    def answer(self, i: int, negative: bool, cue: tuple[int, int]) -> None:
        """A reply settles a question: 没有 negates the finding asked about, 有 affirms it."""
        self.cues[i][UNCERTAIN].clear()
        self.cues[i][NEGATED] = [cue] if negative else []

    def fold(self, source: str, into: str) -> None:
        for cues in self.cues:
            cues[into] += [c for c in cues[source] if c not in cues[into]]

    def write(self, doc: Doc, spans: list[Span]) -> None:
        """Set each extension, and `context_cues`: [{attribute, cue, start, end}] in characters."""
        for span, cues in zip(spans, self.cues):
            underscore = span._  # made once: every `span._` builds a new object
            shown = []
            for category, ext in EXTENSIONS.items():
                underscore.set(ext, bool(cues[category]))
                for start, end in sorted(set(cues[category])):
                    cue = doc[start:end]  # its own tokens: doc.text would make one per token
                    a, b = cue.start_char, cue.end_char
                    shown.append({"attribute": ext, "cue": cue.text, "start": a, "end": b})
            underscore.set(CUES_EXTENSION, shown)
