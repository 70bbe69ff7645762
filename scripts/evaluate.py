"""Score a trained pipeline on a .spacy file: spaCy's scores (JSON) and a per-label table (Markdown)."""
from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.ner import markdown_table, per_label_rows, score_ner


def main(model: Path, data: Path, output_json: Path, output_table: Path, gpu_id: int = typer.Option(-1, "--gpu-id")):
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    scores = score_ner(nlp, gold)
    rows = per_label_rows(scores)
    output_json.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_json, scores)
    output_table.write_text(f"NER on {data} ({len(gold)} docs), model {model}\n\n" + markdown_table(rows), encoding="utf8")
    msg.table([(r[0], f"{r[1]:.1f}", f"{r[2]:.1f}", f"{r[3]:.1f}", r[4]) for r in rows], header=("label", "P", "R", "F1", "support"), divider=True)
    msg.good(f"scores -> {output_json}, table -> {output_table}")


if __name__ == "__main__":
    typer.run(main)
