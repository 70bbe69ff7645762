"""Which predicted spans count: the flat choice for `doc.ents` and the scorer of both views.

The span head writes every kept span, nested ones included, to `doc.spans[SPANS_KEY]` and a
flat choice of them to `doc.ents`; the converter makes the same choice for gold annotations,
so both sides of an evaluation are flattened alike. The scorer reports both views: nested spans
(the CMeEE metric) and the flat entities.

This file is shipped in the wheel (`spacy package --code`, before span_head.py): it imports
nothing from `zh_medner`.
"""

from collections.abc import Callable, Iterable, Sequence

import numpy
from spacy.scorer import Scorer
from spacy.tokens import Span
from spacy.training import Example
from spacy.util import registry

SPANS_KEY = "sc"


def flat_choice(spans: Sequence[Span], label_order: Sequence[str] = ()) -> list[Span]:
    """The spans for doc.ents: outermost wins, then longer, then earlier.

    A span that contains another is longer than it, so taking the longest first
    keeps outer spans; ties break on start, then label order, so the choice is
    deterministic.
    """
    rank = {label: i for i, label in enumerate(label_order)}

    def key(s: Span):
        return (-(s.end - s.start), s.start, rank.get(s.label_, len(rank)), s.label_)

    chosen: list[Span] = []
    taken = numpy.zeros(max((s.end for s in spans), default=0), dtype=bool)
    for span in sorted(spans, key=key):
        if not taken[span.start : span.end].any():
            chosen.append(span)
            taken[span.start : span.end] = True
    return sorted(chosen, key=lambda s: s.start)


def score_spans(examples: Iterable[Example], *, spans_key: str = SPANS_KEY, **kwargs) -> dict:
    """ents_p/r/f (flat) and spans_sc_p/r/f (nested included: the CMeEE metric), each per type.
    `spans_key` is the head's (the component passes its settings to its scorer)."""
    examples = list(examples)
    scores = Scorer.score_spans(examples, "ents", **kwargs)
    scores.update(
        Scorer.score_spans(
            examples,
            f"spans_{spans_key}",
            getter=lambda doc, attr: (
                doc.spans.get(spans_key, [])
                if doc.has_annotation("ENT_IOB") or spans_key in doc.spans
                else []
            ),
            has_annotation=lambda doc: spans_key in doc.spans or doc.has_annotation("ENT_IOB"),
            allow_overlap=True,
            **kwargs,
        )
    )
    return scores


@registry.scorers("zh_medner.span_head_scorer.v1")
def make_span_head_scorer() -> Callable:
    return score_spans
