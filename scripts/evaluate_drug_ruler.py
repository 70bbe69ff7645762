"""Measure where the drug dictionary belongs: DRU and overall scores for the NER alone, the ruler
alone, and the ruler placed before / after the NER, with and without overwrite_ents."""

from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.drug_ruler import compare
from zh_medner.evaluation.ner import markdown_table
from zh_medner.io import PathError, check_outputs, write_text_atomic


def main(
    model: Path,
    data: Path,
    patterns_path: Path,
    output_json: Path,
    output_table: Path,
    limit: int = typer.Option(0, "--limit", help="Score only the first N docs (0: all)"),
):
    try:
        check_outputs([output_json, output_table], [data, patterns_path])
    except PathError as e:
        msg.fail(str(e), exits=1)
    patterns = srsly.read_json(patterns_path)
    gold = list(DocBin().from_disk(data).get_docs(spacy.blank("zh").vocab))
    if limit:
        gold = gold[:limit]
    results = compare(model, patterns, gold)
    rows = [
        (name, r["DRU"]["p"] * 100, r["DRU"]["r"] * 100, r["DRU"]["f"] * 100, r["f"] * 100)
        for name, r in results.items()
    ]
    summary = {
        "model": str(model),
        "data": str(data),
        "docs": len(gold),
        "patterns": len(patterns),
        "results": results,
    }
    write_text_atomic(output_json, srsly.json_dumps(summary, indent=2) + "\n")
    header = ("pipeline", "DRU P", "DRU R", "DRU F1", "overall F1")
    title = (
        f"Drug dictionary on {data} ({len(gold)} docs), NER model {model}, {len(patterns)} patterns"
    )
    write_text_atomic(output_table, f"{title}\n\n" + markdown_table(rows, header))
    msg.table([(r[0], *(f"{c:.1f}" for c in r[1:])) for r in rows], header=header, divider=True)


if __name__ == "__main__":
    typer.run(main)
