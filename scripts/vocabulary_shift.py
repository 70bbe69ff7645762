"""Per label, the share of each evaluation set's gold entities whose text training never
labels (unseen), labels mostly as that type (same) or mostly as another (other)
(zh_medner/evaluation/shift.py)."""

from pathlib import Path

import srsly
import typer
from wasabi import msg

from zh_medner.evaluation.ner import all_triples
from zh_medner.evaluation.shift import shift, train_labels
from zh_medner.io import PathError, check_input
from zh_medner.labels import LABELS
from zh_medner.training.curve import read_docs


def entities(path: Path) -> list[tuple[str, str]]:
    return [(d.text[s:e], label) for d in read_docs(path) for s, e, label in all_triples(d)]


def main(
    train: Path = typer.Argument(..., help="training .spacy"),
    eval_sets: list[Path] = typer.Argument(..., help=".spacy sets to compare with it"),
    labels: str = typer.Option(",".join(LABELS), "--labels"),
    lexicon: Path = typer.Option(
        None, "--lexicon", help="a lexicon JSON {label: terms}: how many unseen texts it lists"
    ),
):
    try:
        for path in [train, *eval_sets, *([lexicon] if lexicon else [])]:
            check_input(path)
    except PathError as e:
        msg.fail(str(e), "convert the corpus first (spacy project run convert-cmeee)", exits=1)
    known = train_labels(entities(train))
    terms = srsly.read_json(lexicon) if lexicon else None
    rows = []
    for path in eval_sets:
        for label, s in shift(known, entities(path), labels.split(","), terms).items():
            extra = (s["unseen_in_lexicon"],) if terms is not None else ()
            rows.append((path.name, label, s["n"], s["unseen"], s["same"], s["other"]) + extra)
    header = ("set", "label", "gold", "unseen", "same", "other")
    header += ("unseen in lexicon",) if terms is not None else ()
    msg.table(rows, header=header, divider=True)


if __name__ == "__main__":
    typer.run(main)
