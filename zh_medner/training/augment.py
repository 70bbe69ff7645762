"""Entity-swap augmentation: copies of training records with entities renamed within their type.

A copy replaces some entities by another name of the same label, taken from dictionaries
(CMeKG drugs, diseases, symptoms, checks, departments) and from the training set's own
entities. Only entities that overlap no other span are swapped: renaming 胃 inside 慢性胃炎
would leave the outer span's label unchecked. Every span after a swapped one moves by the
difference in length, nested ones included, and doc.ents is the converter's flat choice of the
new spans, so a copy is annotated exactly like a converted record.
"""

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from spacy.tokens import Doc

from ..components.span_choice import SPANS_KEY, flat_choice
from ..labels import LABELS

# dictionary files (under a copy of ../shared/data/dicts) for each label
DICTIONARY_FILES = {
    "DRU": ("cmekg/drug_generic_names.txt", "cmekg/drug_brand_names.txt"),
    "DIS": ("cmekg/disease_subjects.txt",),
    "SYM": ("cmekg/symptom_names.txt",),
    "ITE": ("cmekg/check_names.txt",),
    "DEP": ("cmekg/department_names.txt",),
}
NAME = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9αβγ\-]{2,12}$")  # drops list debris like "1.排尿：尿频"


def read_names(dicts_dir: Path | None, files=DICTIONARY_FILES) -> dict[str, list[str]]:
    """{label: sorted names} from the dictionary files present under `dicts_dir`."""
    names: dict[str, set[str]] = defaultdict(set)
    for label, paths in files.items():
        for rel in paths:
            path = Path(dicts_dir) / rel if dicts_dir else None
            if path is None or not path.is_file():
                continue
            for line in path.read_text(encoding="utf8").splitlines():
                term = line.split("\t")[0].strip()
                if NAME.match(term):
                    names[label].add(term)
    return {label: sorted(found) for label, found in names.items()}


def training_names(docs: Iterable[Doc]) -> dict[str, list[str]]:
    """{label: sorted entity texts} of the training docs themselves."""
    names: dict[str, set[str]] = defaultdict(set)
    for doc in docs:
        for span in _spans(doc):
            names[span.label_].add(span.text)
    return {label: sorted(found) for label, found in names.items()}


def merge_names(*sources: dict[str, list[str]]) -> dict[str, list[str]]:
    merged: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        for label, names in source.items():
            merged[label].update(names)
    return {label: sorted(found) for label, found in merged.items()}


def _spans(doc: Doc):
    return list(doc.spans[SPANS_KEY]) if SPANS_KEY in doc.spans else list(doc.ents)


def isolated(spans: Sequence) -> list:
    """The spans that overlap no other span (nested or crossing)."""
    out = []
    for i, span in enumerate(spans):
        if not any(
            j != i and o.start < span.end and span.start < o.end for j, o in enumerate(spans)
        ):
            out.append(span)
    return out


def swap_entities(
    doc: Doc, names: dict[str, list[str]], rng: random.Random, p: float = 0.5
) -> Doc | None:
    """A copy of `doc` with each isolated entity renamed with probability `p`, or None when
    nothing was swapped. `doc.vocab`'s tokenizer is not needed: the copy is tokenized like the
    character pipelines tokenize, one token per character."""
    spans = sorted(_spans(doc), key=lambda s: (s.start_char, -s.end_char, s.label_))
    chosen = {}
    for span in isolated(spans):
        pool = names.get(span.label_, [])
        if pool and rng.random() < p:
            name = pool[rng.randrange(len(pool))]
            if name != span.text:
                chosen[(span.start_char, span.end_char)] = name
    if not chosen:
        return None
    pieces, pos = [], 0
    for (start, end), name in sorted(chosen.items()):
        pieces += [doc.text[pos:start], name]
        pos = end
    text = "".join(pieces) + doc.text[pos:]
    deltas = [(end, len(name) - (end - start)) for (start, end), name in chosen.items()]

    def moved(x: int) -> int:  # where an offset outside every swapped span lands
        return x + sum(d for end, d in deltas if end <= x)

    copy = Doc(doc.vocab, words=list(text), spaces=[False] * len(text))  # one token a character
    new = []
    for span in spans:
        key, start = (span.start_char, span.end_char), moved(span.start_char)
        end = start + len(chosen[key]) if key in chosen else moved(span.end_char)
        new.append(copy.char_span(start, end, label=span.label_))
    copy.spans[SPANS_KEY] = new
    copy.ents = flat_choice(new, LABELS)
    return copy


def augment(
    docs: Sequence[Doc], names: dict[str, list[str]], copies: int = 1, p: float = 0.5, seed=0
) -> list[Doc]:
    """`copies` swapped copies of each doc (those where something was swapped), seeded."""
    rng = random.Random(seed)
    out = []
    for _ in range(copies):
        for doc in docs:
            copy = swap_entities(doc, names, rng, p)
            if copy is not None:
                out.append(copy)
    return out
