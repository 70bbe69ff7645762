"""Tune the span head's per-label thresholds on held-out training records and save the pipeline
with them (zh_medner/training/thresholds.py)."""

from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.io import check_outputs
from zh_medner.training.thresholds import tune_thresholds


def main(
    model: Path,
    held_out: Path = typer.Argument(..., help="Gold .spacy of records the model did not train on"),
    output: Path = typer.Argument(..., help="Folder for the pipeline with the tuned thresholds"),
    report: Path = typer.Option(None, "--report", help="JSON of the thresholds and their F1"),
    cross_check: bool = typer.Option(
        False,
        "--cross-check",
        help="keep a label's threshold only where one tuned on either half of the records "
        "raises its F1 on the other half (else 0)",
    ),
):
    check_outputs([report], [model, held_out])
    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(held_out).get_docs(nlp.vocab))
    tuned = tune_thresholds(nlp, gold, cross_check)
    nlp.to_disk(output)
    if report is not None:
        srsly.write_json(report, tuned)
    rows = [(label, v["threshold"], f"{100 * v['f1']:.1f}") for label, v in tuned.items()]
    msg.table(rows, header=("label", "threshold", f"F1 on {held_out.name}"), divider=True)
    msg.good(f"{output}: span head with tuned thresholds")


if __name__ == "__main__":
    typer.run(main)
