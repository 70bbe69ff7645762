"""Where the drug dictionary belongs: DRU and overall flat scores of the NER alone, the ruler
alone, and the ruler before / after the NER, with and without overwrite_ents."""

from collections.abc import Sequence
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .ner import evaluate_ner

# name -> (ruler placement relative to the NER, or None; overwrite_ents)
VARIANTS = {
    "ner alone": (None, False),
    "ruler alone": ("only", False),
    "ner -> ruler (overwrite_ents=false)": ("after", False),
    "ner -> ruler (overwrite_ents=true)": ("after", True),
    "ruler -> ner": ("before", False),
}
NER_COMPONENTS = ("span_head", "ner")


def build(model: Path, patterns: list[dict], placement: str | None, overwrite: bool) -> Language:
    if placement == "only":
        nlp = spacy.blank("zh")
        ruler = nlp.add_pipe("zh_entity_ruler", name="entity_ruler")
    else:
        nlp = spacy.load(model, exclude=["entity_ruler"])
        if placement is None:
            return nlp
        ner = next(name for name in nlp.pipe_names if name in NER_COMPONENTS)
        where = {"after": ner} if placement == "after" else {"before": ner}
        ruler = nlp.add_pipe(
            "zh_entity_ruler", name="entity_ruler", config={"overwrite_ents": overwrite}, **where
        )
    ruler.add_patterns(patterns)
    return nlp


def compare(model: Path, patterns: list[dict], gold: Sequence[Doc]) -> dict[str, dict]:
    """{variant: {"DRU": {p, r, f, support}, "p", "r", "f"}} on the flat entities."""
    results = {}
    for name, (placement, overwrite) in VARIANTS.items():
        flat = evaluate_ner(build(model, patterns, placement, overwrite), gold)["flat"]
        dru = flat["per_type"].get("DRU", {"p": 0.0, "r": 0.0, "f": 0.0, "support": 0})
        results[name] = {"DRU": dru, "p": flat["p"], "r": flat["r"], "f": flat["f"]}
    return results
