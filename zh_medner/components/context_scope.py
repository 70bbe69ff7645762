"""Where the cues of `zh_context` reach: clauses, sentences, register, and dialogue turns.

Sentence ends are the pipeline's (`doc.sents`, set by the sentencizer): this module adds the
clause breaks of the rules (，；：) inside them. Everything is an array over the doc's tokens,
computed once per doc, so each cue finds its bounds by lookup.

A dialogue comes in as one utterance a line, each line starting with a speaker and a
separator (`医生：发烧吗？` / `患者：没有`). The speaker prefix is no text to find cues in, a
line with a speaker is speech, and the lines hold the turns that replies are read across.

This file is shipped in the wheel: it imports nothing from `zh_medner`.
"""

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

import numpy
from spacy.tokens import Doc

NEWLINE = "\n"
REPLY_PUNCT = "，,。.！!？?～~…\n "  # around an answer, or after a cue at a clause end
MAX_JOIN = 3  # tokens between two items of a list (或者)


@dataclass
class Turn:
    """A line of a dialogue: tokens [start, end), the utterance from `body` on."""

    start: int
    body: int
    end: int
    speaker: str


@dataclass
class Scopes:
    """Per token: the bounds of its clause and sentence, its register, and the turns."""

    clause_start: numpy.ndarray
    clause_end: numpy.ndarray
    sent_start: numpy.ndarray
    sent_end: numpy.ndarray
    speech: numpy.ndarray  # does its sentence read as patient speech
    prefix: numpy.ndarray  # is it part of a speaker prefix (no cue there)
    turns: list[Turn]


def segment_bounds(breaks) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Per token: where its segment starts and where it ends (a break starts a segment)."""
    breaks = numpy.asarray(breaks, dtype=bool).copy()
    breaks[:1] = False  # token 0 always starts the first segment
    bounds = numpy.concatenate([[0], numpy.flatnonzero(breaks), [len(breaks)]])
    segment = numpy.cumsum(breaks)
    return bounds[segment], bounds[segment + 1]


def sentence_breaks(doc: Doc, name: str) -> numpy.ndarray:
    """Per token: does a sentence start there (the sentencizer's, trusted as it is)."""
    if not doc.has_annotation("SENT_START"):
        raise ValueError(
            f"[{name}] needs sentence boundaries (doc.sents): add the 'sentencizer' before it "
            "in the pipeline (configs/assemble.cfg does)"
        )
    starts = doc.to_array("SENT_START") == 1
    starts[:1] = False
    return starts


def find_turns(texts: list[str], speakers: list[str], separators: list[str]) -> list[Turn]:
    """The lines of the doc that start with `speaker` + `separator`; [] when none does."""
    if not speakers:
        return []
    prefixes = sorted(
        ((s, s + sep) for s in speakers for sep in separators), key=lambda p: -len(p[1])
    )
    longest = len(prefixes[0][1])
    turns, start, n = [], 0, len(texts)
    while start < n:
        end = start
        while end < n and texts[end] != NEWLINE:
            end += 1
        head = "".join(texts[start : min(end, start + longest)])
        for speaker, prefix in prefixes:
            if head.startswith(prefix):
                body = start + _tokens_for(texts, start, len(prefix))
                turns.append(Turn(start, body, end, speaker))
                break
        start = end + 1
    return turns


def _tokens_for(texts: list[str], start: int, chars: int) -> int:
    """How many tokens from `start` make up `chars` characters."""
    count = 0
    while chars > 0:
        chars -= len(texts[start + count])
        count += 1
    return count


def speech_sentences(texts, sent_breaks, markers, register, turns) -> numpy.ndarray:
    """Per token: does its sentence read as speech (a marker in it, or a dialogue line)."""
    n = len(texts)
    if register != "auto":
        return numpy.full(n, register == "speech")
    out = numpy.zeros(n, dtype=bool)
    bounds = [0] + numpy.flatnonzero(sent_breaks).tolist() + [n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        sentence = "".join(texts[a:b])
        out[a:b] = any(m in sentence for m in markers)
    for turn in turns:
        out[turn.start : turn.end] = True
    return out


def scopes(doc: Doc, texts: list[str], settings: dict, register: str, name: str) -> Scopes:
    sent_breaks = sentence_breaks(doc, name)
    clause_chars = set(settings["clause"])
    clause_breaks = sent_breaks.copy()
    for i, text in enumerate(texts[:-1]):
        if text in clause_chars:
            clause_breaks[i + 1] = True
    separators = settings["separators"] or ["："]
    turns = find_turns(texts, settings["speakers"], separators)
    prefix = numpy.zeros(len(texts), dtype=bool)
    for turn in turns:
        prefix[turn.start : turn.body] = True
        if turn.body < len(texts):  # the prefix is no part of the utterance's first clause
            clause_breaks[turn.body] = True
    clause_start, clause_end = segment_bounds(clause_breaks)
    sent_start, sent_end = segment_bounds(sent_breaks)
    speech = speech_sentences(texts, sent_breaks, settings["speech_markers"], register, turns)
    return Scopes(clause_start, clause_end, sent_start, sent_end, speech, prefix, turns)


def limits(scope: Scopes, terminations: list, texts: list[str], particles: set) -> Callable:
    """limit(cue, forward): where the cue's scope ends (forward) or starts (backward): the
    clause or sentence, max_scope, or a TERMINATE cue of one of its categories. A `nearest`
    cue looks back only from the end of its clause (发烧没有, not 不痒没有红点)."""
    positions = [t.start for t in terminations]

    def ends_clause(cue) -> bool:
        end = int(scope.clause_end[cue.end - 1])
        return all(texts[k] in particles for k in range(cue.end, end))

    def limit(cue, forward: bool) -> int:
        rule = cue.rule
        if forward:
            bound = scope.clause_end if rule.scope == "clause" else scope.sent_end
            edge = min(int(bound[cue.end - 1]), cue.end + rule.max_scope)
            i = bisect_left(positions, cue.end)
            while i < len(terminations) and terminations[i].start < edge:
                if set(rule.categories) & terminations[i].rule.terminates:
                    return terminations[i].start
                i += 1
            return edge
        if rule.direction == "nearest" and not ends_clause(cue):
            return cue.start
        bound = scope.clause_start if rule.scope == "clause" else scope.sent_start
        edge = max(int(bound[cue.start]), cue.start - rule.max_scope)
        i = bisect_left(positions, cue.start) - 1
        while i >= 0 and terminations[i].end > edge:
            term = terminations[i]
            if term.end <= cue.start and set(rule.categories) & term.rule.terminates:
                return term.end
            i -= 1
        return edge

    return limit


def joiner(texts: list[str], chars: set) -> Callable:
    """joined(a, b): do tokens [a, b) only join the items of a list (、, 和, 或者)?"""

    def joined(a: int, b: int) -> bool:
        return b - a <= MAX_JOIN and all(texts[k] in chars for k in range(a, b))

    return joined


def _reply(texts: list[str], scope: Scopes, turn: Turn) -> tuple[str, int]:
    """The first clause of a turn without its punctuation, and where it ends."""
    head = min(int(scope.clause_end[turn.body]), turn.end) if turn.body < turn.end else turn.body
    while head > turn.body and (not texts[head - 1].strip() or texts[head - 1] in REPLY_PUNCT):
        head -= 1
    return "".join(texts[turn.body : head]).strip(), head


def replies(texts: list[str], scope: Scopes, settings: dict, answers: dict) -> list[tuple]:
    """(lo, hi, negative, cue) for each turn that opens with an answer (没有, 有的) to the
    question that ends the turn before: findings in tokens [lo, hi) are settled by the answer
    at tokens `cue`. Only a turn by one of the `answerers` settles (a doctor's 嗯 does not)."""
    out = []
    if not answers:
        return out
    questions, answerers = settings["questions"], settings["answerers"]
    for before, turn in zip(scope.turns, scope.turns[1:]):
        if before.speaker == turn.speaker or before.end + 1 != turn.start:
            continue
        if answerers and turn.speaker not in answerers:
            continue
        reply, head = _reply(texts, scope, turn)
        last = int(scope.sent_start[before.end - 1])
        if reply in answers and any(q in "".join(texts[last : before.end]) for q in questions):
            out.append((last, before.end, answers[reply], (turn.body, head)))
    return out
