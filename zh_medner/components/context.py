"""Clinical context: `zh_negex` marks negated and uncertain findings (ent._.negex, ent._.uncertain).

`zh_negex` is negspacy's `Negex` with three changes that Chinese needs:
- the termset is data of the pipeline: given at `initialize` (read from a JSON
  resource) and saved with the pipeline, so the wheel carries it;
- a termset must name all four cue lists (a partial one would be merged with
  negspacy's English defaults by the config system);
- text is matched character by character, so cues overlap: a termination
  inside a cue (伴 in 不伴, 现 in 未发现) is ignored, a cue inside a longer
  termination (不 in 不过 'but') is ignored, and a pseudo-cue hides the cues
  that start inside it, not the one that starts right after it.

This file is shipped in the wheel (`spacy package --code`): it imports nothing
from `zh_medner`.
"""
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Union

import srsly
from negspacy.negation import Negex
from spacy.language import Language
from spacy.tokens import Doc

TERMSET_KEYS = (
    "pseudo_negations",
    "preceding_negations",
    "following_negations",
    "termination",
)
TERMSET_FILE = "termset.json"


def validate_termset(termset: Dict[str, List[str]], source: str = "termset") -> Dict[str, List[str]]:
    """Return the termset with its four cue lists, or raise naming what is wrong."""
    if not isinstance(termset, dict):
        raise ValueError(f"{source}: expected a JSON object with keys {list(TERMSET_KEYS)}")
    missing = [k for k in TERMSET_KEYS if k not in termset]
    extra = [k for k in termset if k not in TERMSET_KEYS]
    if missing or extra:
        raise ValueError(
            f"{source}: a termset needs exactly the keys {list(TERMSET_KEYS)}; "
            f"missing {missing}, unexpected {extra}"
        )
    for key in TERMSET_KEYS:
        cues = termset[key]
        if not isinstance(cues, list) or not all(isinstance(c, str) and c.strip() for c in cues):
            raise ValueError(f"{source}: '{key}' must be a list of non-empty strings")
    return {key: list(termset[key]) for key in TERMSET_KEYS}


EMPTY_TERMSET = {key: [] for key in TERMSET_KEYS}
@Language.factory(
    "zh_negex",
    default_config={
        "ent_types": ["DIS", "SYM", "ITE"],
        "extension_name": "negex",
    },
)
def make_zh_negex(nlp: Language, name: str, ent_types: Optional[List[str]], extension_name: str):
    return ChineseNegex(nlp, name, ent_types=ent_types, extension_name=extension_name)


class ChineseNegex(Negex):
    def __init__(self, nlp: Language, name: str, *, ent_types: Optional[List[str]], extension_name: str):
        super().__init__(
            nlp,
            name,
            neg_termset=dict(EMPTY_TERMSET),
            ent_types=ent_types,
            extension_name=extension_name,
        )
        self.name = name

    @property
    def termset(self) -> Dict[str, List[str]]:
        return {
            "pseudo_negations": self.pseudo_negations,
            "preceding_negations": self.preceding_negations,
            "following_negations": self.following_negations,
            "termination": self.termination,
        }

    def set_termset(self, termset: Dict[str, List[str]], source: str = "termset") -> None:
        ts = validate_termset(termset, source)
        self.pseudo_negations = ts["pseudo_negations"]
        self.preceding_negations = ts["preceding_negations"]
        self.following_negations = ts["following_negations"]
        self.termination = ts["termination"]
        self.build_patterns()

    def initialize(
        self,
        get_examples: Optional[Callable[[], Iterable]] = None,
        *,
        nlp: Optional[Language] = None,
        termset: Optional[Dict[str, List[str]]] = None,
    ) -> None:
        if termset is None:
            raise ValueError(
                f"[{self.name}] no termset given: set [initialize.components.{self.name}.termset]"
            )
        self.set_termset(termset, f"[initialize.components.{self.name}.termset]")

    def __call__(self, doc: Doc) -> Doc:
        if not any(self.termset.values()):
            raise ValueError(f"[{self.name}] has no cues: initialize the pipeline with a termset")
        return self.negex(doc)

    def process_negations(self, doc: Doc):
        matches = self.matcher(doc)
        strings = self.nlp.vocab.strings
        pseudo = [(s, e) for m, s, e in matches if strings[m] == "pseudo"]
        kept = [
            (m, s, e)
            for m, s, e in matches
            if strings[m] != "pseudo" and not any(ps <= s < pe for ps, pe in pseudo)
        ]
        cues = [(s, e) for m, s, e in kept if strings[m] != "Termination"]
        # a termination inside a cue is part of the cue (伴 in 不伴, 现 in 未发现)
        terminating = [
            (m, s, e)
            for m, s, e in kept
            if strings[m] == "Termination" and not any(cs <= s and e <= ce for cs, ce in cues)
        ]
        # a cue inside a longer termination is part of the termination (不 in 不过)
        preceding, following = [], []
        for m, s, e in kept:
            if any(ts <= s and e <= te and te - ts > e - s for _, ts, te in terminating):
                continue
            kind = strings[m]
            if kind == "Preceding":
                preceding.append((m, s, e))
            elif kind == "Following":
                following.append((m, s, e))
        return preceding, following, terminating

    def to_disk(self, path: Union[str, Path], *, exclude=tuple()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / TERMSET_FILE, self.termset)

    def from_disk(self, path: Union[str, Path], *, exclude=tuple()) -> "ChineseNegex":
        path = Path(path) / TERMSET_FILE
        self.set_termset(srsly.read_json(path), str(path))
        return self

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.json_dumps(self.termset).encode("utf8")

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "ChineseNegex":
        self.set_termset(srsly.json_loads(bytes_data.decode("utf8")), f"[{self.name}] bytes")
        return self
