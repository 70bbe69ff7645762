"""Score a trained pipeline on a .spacy file: flat and official CMeEE scores (JSON) and a Markdown
report.
"""

from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.ner import evaluate_ner, f1_text, per_label_rows, report
from zh_medner.io import PathError, check_outputs, write_text_atomic


def main(
    model: Path,
    data: Path,
    output_json: Path,
    output_table: Path,
    gpu_id: int = typer.Option(-1, "--gpu-id"),
    line_breaks: str = typer.Option(
        "", "--line-breaks", help="characters read as line breaks instead, e.g. 。；"
    ),
    spaces: str = typer.Option("", "--spaces", help="characters read as spaces instead, e.g. ，"),
):
    try:
        check_outputs([output_json, output_table], [data])
    except PathError as e:
        msg.fail(str(e), exits=1)
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    scores = evaluate_ner(nlp, gold, line_breaks=line_breaks, spaces=spaces)
    write_text_atomic(output_json, srsly.json_dumps(scores, indent=2) + "\n")
    rewritten = f"; line breaks for {line_breaks}" if line_breaks else ""
    rewritten += f"; spaces for {spaces}" if spaces else ""
    write_text_atomic(
        output_table,
        report(scores, f"NER on {data} ({len(gold)} docs{rewritten}), model {model}"),
    )
    for name in ("official", "flat"):
        rows = per_label_rows(scores[name])
        msg.divider(f"{name}: F1 {f1_text(scores[name], bold='')}")
        msg.table(
            [(r[0], f"{r[1]:.1f}", f"{r[2]:.1f}", f"{r[3]:.1f}", r[4]) for r in rows],
            header=("label", "P", "R", "F1", "support"),
            divider=True,
        )
    msg.good(
        f"scores -> {output_json}, report -> {output_table} "
        f"({scores['chars_per_second']:,.0f} chars/s)"
    )


if __name__ == "__main__":
    typer.run(main)
