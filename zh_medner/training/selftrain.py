"""Self-training: a model trained on the labelled records labels unlabelled text, and the
texts it is surest of join the labelled records for a second model (the student).

How sure the teacher is of a text is the span head's expected number of wrong decisions
per character (selection.py's `expected_errors` over the text's length): a long text is not
penalised for having more decisions. The student learns the teacher's spans as they are, nested
ones included, and trains from the encoder, not from the teacher.
"""

from collections.abc import Sequence
from pathlib import Path

from spacy.tokens import Doc, Span

from ..components.span_choice import SPANS_KEY
from .selection import doc_uncertainties

BATCH = 256  # texts a pass: the teacher's transformer data is dropped after each


def copy_spans(doc: Doc, make_doc) -> Doc:
    """A fresh doc of `doc`'s text with its spans and entities, nothing else (no tensors)."""
    out = make_doc(doc.text)
    out.spans[SPANS_KEY] = [
        Span(out, s.start, s.end, label=s.label_) for s in doc.spans.get(SPANS_KEY, [])
    ]
    out.ents = [Span(out, e.start, e.end, label=e.label_) for e in doc.ents]
    return out


def pseudo_label(
    model: Path, texts: Sequence[str], keep: float, threads: int = 1
) -> tuple[list[Doc], dict]:
    """The `keep` share of `texts` the teacher at `model` is surest of, labelled by it, in
    their order; and counts for the report."""
    import spacy
    import torch

    if not 0 < keep <= 1:
        raise ValueError(f"keep {keep}: the share of texts to keep, in (0, 1]")
    torch.set_num_threads(threads)
    nlp = spacy.load(model)
    head = nlp.get_pipe("span_head")
    scored: list[tuple[float, Doc]] = []
    for start in range(0, len(texts), BATCH):
        # the head predicts once: its scores give both the spans and the confidence
        docs = [d for d in nlp.pipe(texts[start : start + BATCH], disable=["span_head"]) if len(d)]
        scores = head.predict(docs)
        head.set_annotations(docs, scores)
        for doc, u in zip(docs, doc_uncertainties(head, docs, scores)):
            scored.append((u["expected_errors"] / len(doc), copy_spans(doc, nlp.make_doc)))
    order = sorted(range(len(scored)), key=lambda i: (scored[i][0], i))
    chosen = sorted(order[: round(keep * len(scored))])
    docs = [scored[i][1] for i in chosen]
    report = {
        "pseudo_texts": len(texts),
        "pseudo_kept": len(docs),
        "pseudo_spans": sum(len(d.spans[SPANS_KEY]) for d in docs),
    }
    return docs, report
