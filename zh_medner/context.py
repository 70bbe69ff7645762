"""A rules-only pipeline with the clinical context components, for evaluation and tests.

It mirrors the `sentencizer`, `negex` and `uncertainty` blocks of configs/assemble.cfg
(tests/test_assembled.py checks that the two agree), so the negation set can be scored
without a trained NER model: gold entities go in, `_.negex` / `_.uncertain` come out.
"""
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional

import spacy
import srsly
from spacy.language import Language

from .components import context as clinical

SENTENCE_PUNCT = ["。", "！", "？", "!", "?", "\n"]
NEGATION_TYPES = ["DIS", "SYM", "ITE"]
UNCERTAINTY_TYPES = ["DIS", "SYM", "ITE"]


def resource_path(name: str) -> Path:
    return Path(str(resources.files("zh_medner") / "resources" / name))


def read_termset(path: Path) -> Dict[str, List[str]]:
    return clinical.validate_termset(srsly.read_json(path), str(path))


def context_pipeline(
    negation_termset: Optional[Path] = None,
    uncertainty_termset: Optional[Path] = None,
) -> Language:
    nlp = spacy.blank("zh")
    nlp.add_pipe("sentencizer", config={"punct_chars": SENTENCE_PUNCT})
    nlp.add_pipe("zh_negex", name="negex", config={"ent_types": NEGATION_TYPES, "extension_name": "negex"})
    nlp.add_pipe(
        "zh_negex",
        name="uncertainty",
        config={"ent_types": UNCERTAINTY_TYPES, "extension_name": "uncertain"},
    )
    nlp.get_pipe("negex").set_termset(read_termset(negation_termset or resource_path("negation_zh.json")))
    nlp.get_pipe("uncertainty").set_termset(
        read_termset(uncertainty_termset or resource_path("uncertainty_zh.json"))
    )
    return nlp
