"""Per label, the share of each evaluation set's gold entities whose text training never
labels (unseen), labels mostly as that type (same) or mostly as another (other)
(zh_medner/evaluation/shift.py)."""

from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.ner import all_triples
from zh_medner.evaluation.shift import shift, train_labels
from zh_medner.labels import LABELS


def entities(path: Path, nlp) -> list[tuple[str, str]]:
    docs = DocBin().from_disk(path).get_docs(nlp.vocab)
    return [(d.text[s:e], label) for d in docs for s, e, label in all_triples(d)]


def main(
    train: Path = typer.Argument(..., help="training .spacy"),
    eval_sets: list[Path] = typer.Argument(..., help=".spacy sets to compare with it"),
    labels: str = typer.Option(",".join(LABELS), "--labels"),
    lexicon: Path = typer.Option(
        None, "--lexicon", help="a lexicon JSON {label: terms}: how many unseen texts it lists"
    ),
):
    for path in [train, *eval_sets, *([lexicon] if lexicon else [])]:
        if not path.exists():
            msg.fail(f"{path}: no such file. Fix: convert the corpus first", exits=1)
    nlp = spacy.blank("zh")
    known = train_labels(entities(train, nlp))
    terms = srsly.read_json(lexicon) if lexicon else None
    rows = []
    for path in eval_sets:
        for label, s in shift(known, entities(path, nlp), labels.split(","), terms).items():
            extra = (s["unseen_in_lexicon"],) if terms is not None else ()
            rows.append((path.name, label, s["n"], s["unseen"], s["same"], s["other"]) + extra)
    header = ("set", "label", "gold", "unseen", "same", "other")
    header += ("unseen in lexicon",) if terms is not None else ()
    msg.table(rows, header=header, divider=True)


if __name__ == "__main__":
    typer.run(main)
