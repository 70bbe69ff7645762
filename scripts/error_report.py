"""Write the error report of a pipeline on a .spacy dev set: one self-contained HTML file."""

from pathlib import Path

import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.error_report import KINDS, error_report
from zh_medner.io import PathError, check_outputs, write_text_atomic


def main(
    model: str = typer.Argument(..., help="Installed package name or pipeline folder"),
    data: Path = typer.Argument(..., help="Gold docs (.spacy)"),
    output: Path = typer.Argument(..., help="The report (.html)"),
    max_docs: int = typer.Option(100, "--max-docs", min=0, help="Docs shown side by side"),
    max_examples: int = typer.Option(50, "--max-examples", min=0, help="Errors listed per kind"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
):
    """Gold and predicted entities side by side, errors by kind, P/R/F1 per label, label swaps."""
    if not data.is_file():
        msg.fail(f"{data}: no such file", "run `spacy project run convert` first", exits=1)
    if output.suffix != ".html":
        msg.fail(f"{output}: the report is an .html file", exits=1)
    try:
        check_outputs([output], [data])
    except PathError as e:
        msg.fail(str(e), exits=1)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    page, analysis = error_report(
        nlp, gold, f"{model} on {data} ({len(gold)} docs)", max_docs, max_examples
    )
    write_text_atomic(output, page)
    counts = {k: sum(e.kind == k for e in analysis.errors) for k in KINDS}
    msg.table(list(counts.items()), header=("error", "count"), divider=True)
    msg.good(f"official F1 {analysis.official['f'] * 100:.1f} -> {output}")


if __name__ == "__main__":
    typer.run(main)
