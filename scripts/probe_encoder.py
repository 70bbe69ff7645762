"""Linear BIO probe on frozen encoder features: entity F1 of each encoder, side by side."""

import json
from pathlib import Path

import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.probe import probe
from zh_medner.io import PathError, check_outputs, write_text_atomic
from zh_medner.labels import LABELS


def main(
    encoders: list[str] = typer.Argument(..., help="Hugging Face encoder folders"),
    train: Path = typer.Option(Path("corpus/cmeee/train.spacy"), "--train"),
    dev: Path = typer.Option(Path("corpus/cmeee/dev.spacy"), "--dev"),
    n_train: int = typer.Option(2000, "--n-train"),
    n_dev: int = typer.Option(1000, "--n-dev"),
    output: Path = typer.Option(Path("metrics/probe.json"), "--output"),
):
    try:
        check_outputs([output], [train, dev])
    except PathError as e:
        msg.fail(str(e), exits=1)
    vocab = spacy.blank("zh").vocab
    train_docs = list(DocBin().from_disk(train).get_docs(vocab))[:n_train]
    dev_docs = list(DocBin().from_disk(dev).get_docs(vocab))[:n_dev]
    results = {}
    for encoder in encoders:
        results[encoder] = probe(encoder, train_docs, dev_docs, list(LABELS))
        msg.info(f"{encoder}: linear-probe flat F1 {results[encoder]['f'] * 100:.1f}")
    rows = [
        (name, f"{r['p'] * 100:.1f}", f"{r['r'] * 100:.1f}", f"{r['f'] * 100:.1f}")
        for name, r in results.items()
    ]
    msg.table(rows, header=("encoder (frozen)", "P", "R", "F1"), divider=True)
    summary = {"train_docs": len(train_docs), "dev_docs": len(dev_docs), "results": results}
    write_text_atomic(output, json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    typer.run(main)
