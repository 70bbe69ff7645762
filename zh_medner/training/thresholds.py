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


def f1_at(cells: list[tuple[float, bool]], gold: int, threshold: float) -> float:
    return best_threshold(cells, gold, grid=(threshold,))[1]


def _merge(parts):
    cells, gold = defaultdict(list), defaultdict(int)
    for part_cells, part_gold in parts:
        for label, found in part_cells.items():
            cells[label] += found
        for label, n in part_gold.items():
            gold[label] += n
    return cells, gold


def _gains_across_halves(label: str, halves) -> list[float]:
    """What a threshold tuned on one half adds to the label's F1 on the other, both ways."""
    (cells_a, gold_a), (cells_b, gold_b) = ((c.get(label, []), g.get(label, 0)) for c, g in halves)
    gains = []
    for (tune_c, tune_g), (other_c, other_g) in (
        ((cells_a, gold_a), (cells_b, gold_b)),
        ((cells_b, gold_b), (cells_a, gold_a)),
    ):
        threshold = best_threshold(tune_c, tune_g)[0]
        gains.append(f1_at(other_c, other_g, threshold) - f1_at(other_c, other_g, 0.0))
    return gains


def tune_thresholds(nlp, gold_docs, cross_check: bool = False) -> dict[str, dict]:
    """{label: {"threshold", "f1"}} tuned on `gold_docs`; sets them on the span head.

    `cross_check`: a label keeps its tuned threshold only where a threshold tuned on either half
    of the records raises its F1 on the other half; else 0 (its F1 at 0). A better-calibrated
    model's optimum moves by noise, and ITE's ~80 gold spans in a half of CMeEE's held-out
    records cannot tell the two apart otherwise."""
    head = nlp.get_pipe("span_head")
    docs = list(gold_docs)
    halves = [scored_spans(nlp, docs[: len(docs) // 2]), scored_spans(nlp, docs[len(docs) // 2 :])]
    cells, gold_count = _merge(halves)
    tuned = {}
    for label in head.labels:
        found, gold = cells.get(label, []), gold_count.get(label, 0)
        threshold, f1 = best_threshold(found, gold)
        tuned[label] = {"threshold": threshold, "f1": round(f1, 4)}
        if cross_check:
            gains = _gains_across_halves(label, halves)
            tuned[label]["gains_across_halves"] = [round(g, 4) for g in gains]
            if not all(g > 0 for g in gains):
                tuned[label].update(threshold=0.0, f1=round(f1_at(found, gold, 0.0), 4))
    head.cfg["thresholds"] = {label: v["threshold"] for label, v in tuned.items()}
    return tuned
