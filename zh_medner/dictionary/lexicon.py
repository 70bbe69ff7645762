"""A typed medical lexicon from CMeKG (MIT) for the span head's optional lexicon features.

DRU: the drug dictionary's patterns; DIS: CMeKG disease subjects; SYM: objects of the symptom
predicates; ITE: objects of 检查. Names are cleaned as the drug dictionary cleans them, and
kept when 2 to 16 characters long and not plain numbers or codes.
"""

import re

from .cmekg import is_disease
from .wordlists import clean_name

SYMPTOM_PREDICATES = ("常见症状", "相关症状", "临床症状及体征")
CHECK_PREDICATES = ("检查",)
MIN_LEN, MAX_LEN = 2, 16
_CODE = re.compile(r"^[\W\d_a-zA-Z]+$")


def _keep(term: str) -> bool:
    return MIN_LEN <= len(term) <= MAX_LEN and not _CODE.match(term)


def build_lexicon(kg: dict, drug_patterns: list) -> dict:
    """{"DRU": [...], "DIS": [...], "SYM": [...], "ITE": [...]}, each sorted."""
    terms = {"DRU": set(), "DIS": set(), "SYM": set(), "ITE": set()}
    terms["DRU"] = {p["pattern"] for p in drug_patterns if isinstance(p["pattern"], str)}
    for subject, props in kg.items():
        if is_disease(props):
            terms["DIS"].add(clean_name(subject))
        for pred in SYMPTOM_PREDICATES:
            terms["SYM"].update(clean_name(o) for o in props.get(pred, ()))
        for pred in CHECK_PREDICATES:
            terms["ITE"].update(clean_name(o) for o in props.get(pred, ()))
    return {label: sorted(t for t in names if t and _keep(t)) for label, names in terms.items()}
