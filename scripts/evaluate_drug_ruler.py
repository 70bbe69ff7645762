"""Measure where the drug dictionary belongs: DRU and overall scores for NER alone, the ruler
alone, and the ruler placed before / after the NER, with and without overwrite_ents."""
from pathlib import Path

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from wasabi import msg

from zh_medner.evaluation.ner import markdown_table, score_ner

# name -> (ruler placement relative to ner or None, overwrite_ents)
VARIANTS = {
    "ner alone": (None, False),
    "ruler alone": ("only", False),
    "ner -> ruler (overwrite_ents=false)": ("after", False),
    "ner -> ruler (overwrite_ents=true)": ("after", True),
    "ruler -> ner": ("before", False),
}


def build(model: Path, patterns: list, placement, overwrite: bool):
    if placement == "only":
        nlp = spacy.blank("zh")
        ruler = nlp.add_pipe("zh_entity_ruler", name="entity_ruler")
    else:
        nlp = spacy.load(model, exclude=["entity_ruler"])
        if placement is None:
            return nlp
        where = {"after": "ner"} if placement == "after" else {"before": "ner"}
        ruler = nlp.add_pipe("zh_entity_ruler", name="entity_ruler", config={"overwrite_ents": overwrite}, **where)
    ruler.add_patterns(patterns)
    return nlp


def main(
    model: Path,
    data: Path,
    patterns_path: Path,
    output_json: Path,
    output_table: Path,
    limit: int = typer.Option(0, "--limit", help="Score only the first N docs (0: all)"),
):
    patterns = srsly.read_json(patterns_path)
    vocab_nlp = spacy.blank("zh")
    gold = list(DocBin().from_disk(data).get_docs(vocab_nlp.vocab))
    if limit:
        gold = gold[:limit]
    results, rows = {}, []
    for name, (placement, overwrite) in VARIANTS.items():
        nlp = build(model, patterns, placement, overwrite)
        scores = score_ner(nlp, gold)
        dru = scores["ents_per_type"].get("DRU", {"p": 0.0, "r": 0.0, "f": 0.0})
        results[name] = {"DRU": dru, "ents_p": scores["ents_p"], "ents_r": scores["ents_r"], "ents_f": scores["ents_f"]}
        rows.append((name, dru["p"] * 100, dru["r"] * 100, dru["f"] * 100, scores["ents_f"] * 100))
        msg.info(f"{name}: DRU F1 {dru['f'] * 100:.1f}, overall F1 {scores['ents_f'] * 100:.1f}")
    output_json.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_json, {"model": str(model), "data": str(data), "docs": len(gold), "patterns": len(patterns), "results": results})
    header = ("pipeline", "DRU P", "DRU R", "DRU F1", "overall F1")
    output_table.write_text(
        f"Drug dictionary on {data} ({len(gold)} docs), NER model {model}, {len(patterns)} patterns\n\n" + markdown_table(rows, header),
        encoding="utf8",
    )
    msg.table([(r[0], *(f"{c:.1f}" for c in r[1:])) for r in rows], header=header, divider=True)


if __name__ == "__main__":
    typer.run(main)
