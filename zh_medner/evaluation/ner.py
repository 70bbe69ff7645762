"""NER scores: flat (doc.ents) and the official CMeEE metric (every entity, nested included).

The CMeEE metric is micro P/R/F1 over exact (start, end, type) triples of all entities.
Gold entities come from `doc.spans["sc"]` (the converter keeps nested ones there) and
predictions from the pipeline's `doc.spans["sc"]` when it writes one (the span head),
else from its `doc.ents` (transition `ner`, which cannot nest): the same metric for both.
"""

import time
from collections import Counter
from collections.abc import Iterable, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from ..components.span_choice import SPANS_KEY
from ..labels import ordered
from .bootstrap import f1_difference, f1_interval

Triple = tuple[int, int, str]


def flat_triples(doc: Doc) -> set[Triple]:
    return {(e.start_char, e.end_char, e.label_) for e in doc.ents}


def all_triples(doc: Doc) -> set[Triple]:
    """Every entity: the span group when the doc has one, else the flat entities."""
    if SPANS_KEY in doc.spans:
        return {(s.start_char, s.end_char, s.label_) for s in doc.spans[SPANS_KEY]}
    return flat_triples(doc)


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def micro_scores(pairs: Iterable[tuple[set[Triple], set[Triple]]]) -> dict:
    """{"p", "r", "f", "support", "f_interval", "per_type": {label: {"p", "r", "f", "support"}}}
    over (predicted, gold) sets; "f_interval": the 95% bootstrap interval of f, the docs
    resampled (`bootstrap.f1_interval`; None for no docs).
    """
    pairs = list(pairs)
    tp, fp, fn = Counter(), Counter(), Counter()
    for predicted, gold in pairs:
        for t in predicted & gold:
            tp[t[2]] += 1
        for t in predicted - gold:
            fp[t[2]] += 1
        for t in gold - predicted:
            fn[t[2]] += 1
    labels = set(tp) | set(fp) | set(fn)
    out = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    out["support"] = sum(tp.values()) + sum(fn.values())
    out["f_interval"] = f1_interval(doc_counts(pairs))
    out["per_type"] = {
        label: {**prf(tp[label], fp[label], fn[label]), "support": tp[label] + fn[label]}
        for label in labels
    }
    return out


def doc_counts(pairs: Iterable[tuple[set[Triple], set[Triple]]]) -> list[tuple[int, int, int]]:
    """(tp, fp, fn) of each (predicted, gold) pair."""
    return [(len(p & g), len(p - g), len(g - p)) for p, g in pairs]


def compare_ner(nlp_a: Language, nlp_b: Language, gold_docs: Sequence[Doc]) -> dict:
    """Official and flat micro F1 of two pipelines on the same gold docs, each with its
    interval, and how much better B scores, paired by doc (`bootstrap.f1_difference`):
    {"docs", "official" | "flat": {"a", "b", "a_interval", "b_interval", "interval",
    "b_better"}}."""
    gold_docs = list(gold_docs)
    texts = [d.text for d in gold_docs]
    predicted = [list(nlp.pipe(texts)) for nlp in (nlp_a, nlp_b)]
    out: dict = {"docs": len(gold_docs)}
    for name, triples in (("official", all_triples), ("flat", flat_triples)):
        gold = [triples(d) for d in gold_docs]
        a, b = ([(triples(p), g) for p, g in zip(docs, gold)] for docs in predicted)
        scores_a, scores_b = micro_scores(a), micro_scores(b)
        out[name] = {
            "a": scores_a["f"],
            "b": scores_b["f"],
            "a_interval": scores_a["f_interval"],
            "b_interval": scores_b["f_interval"],
            **(f1_difference(doc_counts(a), doc_counts(b)) or {"interval": None, "b_better": None}),
        }
    return out


def evaluate_ner(
    nlp: Language,
    gold_docs: Sequence[Doc],
    batch_size: int | None = None,
    n_process: int = 1,
    line_breaks: str = "",
    spaces: str = "",
) -> dict:
    """Flat and official (nested-inclusive) scores of `nlp` on gold docs, and its speed (by
    default in the pipeline's own batch size, as `nlp.pipe(texts)` runs). Each character of
    `line_breaks` becomes a line break, and each of `spaces` a space, in the texts the pipeline
    reads (one for one, so the gold offsets stay): how it reads notes written a line per
    sentence or with spaces between findings (CMeEE has no whitespace)."""
    gold_docs = list(gold_docs)
    table = str.maketrans({**{c: "\n" for c in line_breaks}, **{c: " " for c in spaces}})
    start = time.perf_counter()
    texts = (d.text.translate(table) for d in gold_docs)
    predicted = list(nlp.pipe(texts, batch_size=batch_size, n_process=n_process))
    seconds = time.perf_counter() - start
    chars = sum(len(d.text) for d in gold_docs)
    return {
        "docs": len(gold_docs),
        "flat": micro_scores(
            (flat_triples(p), flat_triples(g)) for p, g in zip(predicted, gold_docs)
        ),
        "official": micro_scores(
            (all_triples(p), all_triples(g)) for p, g in zip(predicted, gold_docs)
        ),
        "chars_per_second": chars / seconds if seconds else 0.0,
        "seconds": seconds,
    }


def per_label_rows(section: dict) -> list[tuple]:
    """(label, P, R, F, support) rows in CMeEE label order, then the micro average."""
    per_type = section["per_type"]
    labels = ordered(per_type)
    rows = [
        (
            x,
            per_type[x]["p"] * 100,
            per_type[x]["r"] * 100,
            per_type[x]["f"] * 100,
            per_type[x]["support"],
        )
        for x in labels
    ]
    rows.append(
        (
            "ALL (micro)",
            section["p"] * 100,
            section["r"] * 100,
            section["f"] * 100,
            section["support"],
        )
    )
    return rows


def markdown_table(rows: list[tuple], header=("label", "P", "R", "F1", "support")) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{c:.1f}" if isinstance(c, float) else str(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def f1_text(section: dict, bold: str = "**") -> str:
    """Micro F1 in points, with its bootstrap interval where the section has one."""
    f1 = f"{bold}{section['f'] * 100:.1f}{bold}"
    interval = section.get("f_interval")
    if interval is None:
        return f1
    low, high = (x * 100 for x in interval)
    return f"{f1} (95% bootstrap interval {low:.1f}-{high:.1f})"


def report(scores: dict, title: str) -> str:
    """The Markdown report: both metrics, per label, and the speed."""
    return (
        f"{title}\n\n"
        "Official CMeEE metric (every entity, nested included): micro F1 "
        f"{f1_text(scores['official'])}\n\n"
        + markdown_table(per_label_rows(scores["official"]))
        + f"\nFlat (doc.ents): micro F1 {f1_text(scores['flat'])}\n\n"
        + markdown_table(per_label_rows(scores["flat"]))
        + f"\n{scores['docs']} docs, {scores['chars_per_second']:,.0f} characters/s through "
        "`nlp.pipe`.\n"
    )
