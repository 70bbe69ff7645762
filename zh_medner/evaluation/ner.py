"""NER scores: spaCy's scorer, plus a per-label table with gold support."""
from collections import Counter
from typing import Dict, Iterable, List

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ..labels import LABELS


def score_ner(nlp: Language, gold_docs: Iterable[Doc], batch_size: int = 64) -> Dict:
    """Score `nlp` on gold docs (their flat doc.ents); adds per-label gold support."""
    gold_docs = list(gold_docs)
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs]
    scores = nlp.evaluate(examples, batch_size=batch_size)
    support = Counter(e.label_ for d in gold_docs for e in d.ents)
    per_type = scores.get("ents_per_type") or {}
    for label in set(per_type) | set(support):
        per_type.setdefault(label, {"p": 0.0, "r": 0.0, "f": 0.0})["support"] = support[label]
    scores["ents_per_type"] = per_type
    return scores


def per_label_rows(scores: Dict) -> List[tuple]:
    """(label, P, R, F, support) rows in CMeEE label order, then the micro average."""
    per_type = scores.get("ents_per_type") or {}
    labels = [l for l in LABELS if l in per_type] + sorted(l for l in per_type if l not in LABELS)
    rows = [
        (l, per_type[l]["p"] * 100, per_type[l]["r"] * 100, per_type[l]["f"] * 100, per_type[l].get("support", 0))
        for l in labels
    ]
    total = sum(r[4] for r in rows)
    rows.append(("ALL (micro)", (scores.get("ents_p") or 0) * 100, (scores.get("ents_r") or 0) * 100, (scores.get("ents_f") or 0) * 100, total))
    return rows


def markdown_table(rows: List[tuple], header=("label", "P", "R", "F1", "support")) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{c:.1f}" if isinstance(c, float) else str(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
