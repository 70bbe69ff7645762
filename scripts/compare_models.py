"""Is pipeline B better than pipeline A on this gold set? Official and flat micro F1 of both,
and B - A with its 95% paired bootstrap interval (the same records drawn for both): an
interval that holds 0 says the set cannot tell them apart.
"""

from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.ner import compare_ner
from zh_medner.io import PathError, check_input, check_outputs, write_text_atomic
from zh_medner.serving.loading import check_model


def _signed(value: float) -> str:
    """Points with a sign, to 2 decimals (a difference under 0.05 is not shown as -0.0)."""
    return f"{round(value * 100, 2) + 0.0:+.2f}"


def _span(interval) -> str:
    return "" if interval is None else f"{_signed(interval[0])} to {_signed(interval[1])}"


def main(
    model_a: Path = typer.Argument(..., help="pipeline A: the one to beat (a folder or package)"),
    model_b: Path = typer.Argument(..., help="pipeline B: the candidate"),
    data: Path = typer.Argument(..., help="gold docs (.spacy), for example corpus/dev.spacy"),
    output: Path = typer.Option(None, "--output", help="also write the comparison as JSON"),
    gpu_id: int = typer.Option(-1, "--gpu-id"),
):
    """Compare two pipelines on the same gold docs, paired by record."""
    try:
        check_input(data)
        check_outputs([output], [data])
    except PathError as e:
        msg.fail(str(e), "pass a .spacy file (spacy project run convert)", exits=1)
    for model in (model_a, model_b):  # both refused before either loads
        check_model(str(model))
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp_a, nlp_b = spacy.load(model_a), spacy.load(model_b)
    gold = list(DocBin().from_disk(data).get_docs(nlp_a.vocab))
    result = compare_ner(nlp_a, nlp_b, gold)
    rows = [
        (
            name,
            f"{s['a'] * 100:.1f}",
            f"{s['b'] * 100:.1f}",
            _signed(s["b"] - s["a"]),
            _span(s["interval"]),
            "" if s["b_better"] is None else f"{s['b_better']:.0%}",
        )
        for name, s in ((n, result[n]) for n in ("official", "flat"))
    ]
    msg.divider(f"A {model_a} | B {model_b} | {data}, {len(gold)} docs")
    header = ("micro F1", "A", "B", "B - A", "95% interval of B - A", "resamples B wins")
    msg.table(rows, header=header, divider=True)
    if output is not None:
        write_text_atomic(output, srsly.json_dumps(result, indent=2) + "\n")
        msg.good(f"comparison -> {output}")


if __name__ == "__main__":
    typer.run(main)
