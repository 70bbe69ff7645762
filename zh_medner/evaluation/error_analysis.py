"""Errors of a pipeline on gold docs, each of one kind, and the label confusion.

The numbers are the official CMeEE metric of zh_medner/evaluation/ner.py (exact
(start, end, label) triples, nested entities included), with flat scores beside it. Every
gold entity and every prediction that is not an exact match is one error of one kind:

- wrong label: a prediction with the same offsets and another label;
- wrong boundary: an overlapping prediction with the same label and other offsets;
- wrong label and boundary: an overlapping prediction with another label and other offsets;
- missed: a gold entity that no unmatched prediction overlaps;
- spurious: a prediction that overlaps no unmatched gold entity.

Pairs are made in that order (exact offsets first, then the largest overlap), each entity
in at most one pair, so the errors add up: exact + paired + spurious = predicted and
exact + paired + missed = gold. The error report (error_report.py) shows an Analysis as
one HTML page; the breakdown (breakdown.py) counts the fates of the gold entities.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from spacy.tokens import Doc

from .ner import Triple, all_triples, flat_triples, micro_scores

KINDS = ("missed", "spurious", "wrong label", "wrong boundary", "wrong label and boundary")
NONE = "(none)"


@dataclass
class Error:
    kind: str
    doc: int
    gold: Triple | None
    pred: Triple | None


@dataclass
class Analysis:
    texts: list[str]
    gold: list[set[Triple]]
    pred: list[set[Triple]]
    errors: list[Error]
    official: dict
    flat: dict
    confusion: Counter = field(default_factory=Counter)  # (gold label, predicted label) -> n


def _overlap(a: Triple, b: Triple) -> int:
    return min(a[1], b[1]) - max(a[0], b[0])


def classify(pred: set[Triple], gold: set[Triple], doc: int = 0) -> list[Error]:
    """The errors of one doc: every non-exact gold entity and prediction, in one kind each."""
    fp, fn = sorted(pred - gold), sorted(gold - pred)
    used_p: set[Triple] = set()
    errors = []
    for g in fn:
        p = next((p for p in fp if p[:2] == g[:2] and p not in used_p), None)
        if p:
            used_p.add(p)
            errors.append(Error("wrong label", doc, g, p))
    paired = {e.gold for e in errors}
    for kind, same_label in (("wrong boundary", True), ("wrong label and boundary", False)):
        pairs = [
            (g, p)
            for g in fn
            if g not in paired
            for p in fp
            if p not in used_p and _overlap(p, g) > 0 and (p[2] == g[2]) == same_label
        ]
        # the largest overlap first, each entity in one pair
        for g, p in sorted(pairs, key=lambda gp: (-_overlap(*gp), gp)):
            if g not in paired and p not in used_p:
                used_p.add(p)
                paired.add(g)
                errors.append(Error(kind, doc, g, p))
    errors += [Error("missed", doc, g, None) for g in fn if g not in paired]
    errors += [Error("spurious", doc, None, p) for p in fp if p not in used_p]
    return errors


def analyse(predicted: Sequence[Doc], gold_docs: Sequence[Doc]) -> Analysis:
    gold = [all_triples(d) for d in gold_docs]
    pred = [all_triples(d) for d in predicted]
    errors = [e for i, (p, g) in enumerate(zip(pred, gold)) for e in classify(p, g, i)]
    confusion = Counter()
    for p, g in zip(pred, gold):
        for t in p & g:
            confusion[(t[2], t[2])] += 1
    for e in errors:
        confusion[(e.gold[2] if e.gold else NONE, e.pred[2] if e.pred else NONE)] += 1
    return Analysis(
        texts=[d.text for d in gold_docs],
        gold=gold,
        pred=pred,
        errors=errors,
        official=micro_scores(zip(pred, gold)),
        flat=micro_scores((flat_triples(p), flat_triples(g)) for p, g in zip(predicted, gold_docs)),
        confusion=confusion,
    )
