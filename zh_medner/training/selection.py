"""What to label next: seeded subsets, and texts ranked by the span head's uncertainty.

The span head makes one yes/no decision per (type, span) cell, with p = sigmoid(logit -
threshold). Two ways to rank a text by those decisions (the simulation in
zh_medner/training/active.py measures which saves more labels):

- `least_confident`: the confidence of its least certain decision, sigmoid(min |margin|),
  lowest first (what `zh-medner pre-annotate` has ordered by);
- `expected_errors`: the sum over its decisions of min(p, 1 - p), the number of decisions the
  model expects to get wrong, highest first. Long texts with many close calls come first.
"""

import math
import random
from collections.abc import Sequence

import numpy

from ..components.span_head import NEG_INF

STRATEGIES = ("random", "least_confident", "expected_errors")
# what `zh-medner pre-annotate` orders by: the strategy the simulation found to save labels
DEFAULT_STRATEGY = "least_confident"


def nested_subsets(n: int, sizes: Sequence[int], seed: int) -> dict[int, list[int]]:
    """{size: record indices}: prefixes of one seeded permutation, so each set holds the
    smaller ones."""
    if max(sizes) > n:
        raise ValueError(f"a subset of {max(sizes)} records from {n}: use smaller --sizes")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return {size: sorted(order[:size]) for size in sizes}


def uncertainty(cells: numpy.ndarray, thresholds: numpy.ndarray) -> dict[str, float]:
    """Both rankings' scores for one doc's [types, tokens, max_length] logits."""
    valid = cells > NEG_INF / 2  # cells past the doc's end are no span
    margins = (cells - thresholds[:, None, None])[valid]
    if not margins.size:
        return {"least_confident": 1.0, "expected_errors": 0.0}
    p = 0.5 * (1.0 + numpy.tanh(0.5 * margins))  # sigmoid without overflow
    return {
        "least_confident": 0.5 * (1.0 + math.tanh(0.5 * float(numpy.abs(margins).min()))),
        "expected_errors": float(numpy.minimum(p, 1.0 - p).sum()),
    }


def doc_uncertainties(head, docs, scores=None) -> list[dict[str, float]]:
    """`uncertainty` of docs already run through the pipeline: from the head's `scores` of
    them, or, without those, the head runs again."""
    scores = head.predict(list(docs)) if scores is None else scores
    thresholds = head.label_thresholds()
    return [uncertainty(numpy.asarray(s)[:, : len(d)], thresholds) for s, d in zip(scores, docs)]


def rank(strategy: str, scores: Sequence[dict[str, float]], seed: int = 0) -> list[int]:
    """Positions in the order `strategy` would label them."""
    if strategy == "random":
        order = list(range(len(scores)))
        random.Random(seed).shuffle(order)
        return order
    if strategy == "least_confident":
        return sorted(range(len(scores)), key=lambda i: (scores[i][strategy], i))
    if strategy == "expected_errors":
        return sorted(range(len(scores)), key=lambda i: (-scores[i][strategy], i))
    raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
