"""Per-label decision thresholds for the span head, tuned on held-out training records.

A span is kept when its logit passes its label's threshold (0 by default). Types that the
model finds with high precision and low recall (CMeEE's SYM and ITE) gain from a lower one.
Each label's threshold is the one on a grid that maximises that label's F1 over every span
the head scored on the held-out records; the official metric counts every span, so labels
are independent. Tune on records the model did not train on, and never on the evaluation
set you report.
"""

from collections import defaultdict

import numpy

from ..components.span_head import NEG_INF
from ..evaluation.ner import all_triples, prf

GRID = tuple(round(x, 2) for x in numpy.arange(-3.0, 3.01, 0.25))


def scored_spans(nlp, gold_docs, batch_size: int = 64):
    """Per label: [(logit, is_gold)] of every span scored above the grid's lowest value, and the
    number of gold spans."""
    head = nlp.get_pipe("span_head")
    after = nlp.pipe_names[nlp.pipe_names.index("span_head") :]
    cells: dict[str, list] = defaultdict(list)
    gold_count: dict[str, int] = defaultdict(int)
    for start in range(0, len(gold_docs), batch_size):
        gold = gold_docs[start : start + batch_size]
        docs = list(nlp.pipe((d.text for d in gold), disable=after))
        scores = head.predict(docs)
        for i, (doc, ref) in enumerate(zip(docs, gold)):
            truth = all_triples(ref)
            for _, _, label in truth:
                gold_count[label] += 1
            found = numpy.asarray(scores[i])[:, : len(doc)]
            for t, s, d in zip(*numpy.nonzero((found > min(GRID)) & (found > NEG_INF / 2))):
                if s + d >= len(doc):
                    continue
                span = doc[int(s) : int(s + d + 1)]
                label = head.labels[t]
                hit = (span.start_char, span.end_char, label) in truth
                cells[label].append((float(found[t, s, d]), hit))
    return cells, gold_count


def best_threshold(cells: list[tuple[float, bool]], gold: int, grid=GRID) -> tuple[float, float]:
    """(threshold, F1) with the best F1 on the grid; ties go to the threshold nearest 0."""
    logits = numpy.array([c[0] for c in cells]) if cells else numpy.zeros(0)
    hits = numpy.array([c[1] for c in cells], dtype=bool) if cells else numpy.zeros(0, bool)
    best = (0.0, -1.0)
    for threshold in sorted(grid, key=abs):
        kept = logits > threshold
        tp = int((kept & hits).sum())
        f1 = prf(tp, int(kept.sum()) - tp, gold - tp)["f"]
        if f1 > best[1] + 1e-12:
            best = (float(threshold), f1)
    return best


def tune_thresholds(nlp, gold_docs) -> dict[str, dict[str, float]]:
    """{label: {"threshold", "f1"}} tuned on `gold_docs`; sets them on the span head."""
    head = nlp.get_pipe("span_head")
    cells, gold_count = scored_spans(nlp, list(gold_docs))
    tuned = {}
    for label in head.labels:
        threshold, f1 = best_threshold(cells.get(label, []), gold_count.get(label, 0))
        tuned[label] = {"threshold": threshold, "f1": round(f1, 4)}
    head.cfg["thresholds"] = {label: v["threshold"] for label, v in tuned.items()}
    return tuned
