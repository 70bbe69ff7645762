"""Where each type's recall goes on a gold set: the fate of its gold entities (found, wrong
label, wrong boundary, missed), recall by entity length, nested against flat."""

from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.breakdown import breakdown, markdown
from zh_medner.evaluation.ner import all_triples
from zh_medner.io import check_outputs, write_text_atomic
from zh_medner.labels import LABELS


def main(
    model: Path,
    data: Path,
    output: Path = typer.Argument(..., help="Markdown report"),
    labels: str = typer.Option(",".join(LABELS), "--labels"),
):
    check_outputs([output], [model, data])
    nlp = spacy.load(model)
    gold_docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
    predicted = nlp.pipe((d.text for d in gold_docs), batch_size=64)
    pred = [all_triples(d) for d in predicted]
    result = breakdown(pred, [all_triples(d) for d in gold_docs], labels.split(","))
    write_text_atomic(output, f"# Error breakdown: {model} on {data}\n\n" + markdown(result))
    srsly.write_json(output.with_suffix(".json"), result)
    msg.good(f"{output}")


if __name__ == "__main__":
    typer.run(main)
