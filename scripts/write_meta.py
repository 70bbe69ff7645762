"""Write a package's meta.json: the base meta plus the measured dev scores (performance and a
per-type table in the model card that `spacy package` generates)."""

from pathlib import Path

import srsly
import typer
from wasabi import msg

from zh_medner.evaluation.ner import markdown_table, per_label_rows
from zh_medner.io import write_atomic


def performance(scores: dict) -> dict:
    """spaCy's meta keys: ents_* for the flat entities, spans_sc_* for every entity (official)."""
    out = {}
    for key, name in (("ents", "flat"), ("spans_sc", "official")):
        section = scores[name]
        out.update({f"{key}_p": section["p"], f"{key}_r": section["r"], f"{key}_f": section["f"]})
        out[f"{key}_per_type"] = {
            label: {k: v[k] for k in ("p", "r", "f")} for label, v in section["per_type"].items()
        }
    out["chars_per_second"] = round(scores["chars_per_second"])
    return out


def main(
    base: Path,
    scores_path: Path,
    output: Path,
    name: str = typer.Option(...),
    version: str = typer.Option(...),
):
    meta = srsly.read_json(base)
    scores = srsly.read_json(scores_path)
    meta.update(name=name, version=version, performance=performance(scores))
    official, flat = scores["official"], scores["flat"]
    meta["description"] = (
        f"{meta['description']}\n\n"
        f"Scores on the dev data ({scores['docs']} documents): official CMeEE micro F1 "
        f"{official['f'] * 100:.1f} (every entity, nested included), "
        f"flat F1 {flat['f'] * 100:.1f}.\n\n" + markdown_table(per_label_rows(official))
    )
    write_atomic(output, lambda tmp: srsly.write_json(tmp, meta))
    msg.good(f"{output}: official F1 {official['f'] * 100:.1f}, flat F1 {flat['f'] * 100:.1f}")


if __name__ == "__main__":
    typer.run(main)
