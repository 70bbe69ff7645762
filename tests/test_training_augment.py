"""Entity-swap augmentation (zh_medner/training/augment.py): offsets, nested spans, labels, seed."""

import random

import pytest
import spacy

from zh_medner.components.span_choice import SPANS_KEY, flat_choice
from zh_medner.labels import LABELS
from zh_medner.training.augment import (
    augment,
    isolated,
    merge_names,
    read_names,
    swap_entities,
    training_names,
)

from .conftest import needs_shared

TEXT = "患者慢性胃炎伴胃痛三天，口服奥美拉唑，查血常规。"
GOLD = [(2, 6, "DIS"), (4, 5, "BOD"), (7, 9, "SYM"), (14, 18, "DRU"), (20, 23, "ITE")]
NAMES = {"DRU": ["阿莫西林胶囊", "二甲双胍"], "SYM": ["头晕", "恶心呕吐"], "ITE": ["尿常规"]}


@pytest.fixture
def doc():
    nlp = spacy.blank("zh")
    d = nlp.make_doc(TEXT)
    spans = [d.char_span(s, e, label=label) for s, e, label in GOLD]
    d.spans[SPANS_KEY] = spans
    d.ents = flat_choice(spans, LABELS)
    return d


def triples(doc):
    return sorted((s.text, s.label_) for s in doc.spans[SPANS_KEY])


def test_only_spans_that_overlap_nothing_are_candidates(doc):
    assert [s.text for s in isolated(list(doc.spans[SPANS_KEY]))] == ["胃痛", "奥美拉唑", "血常规"]


def test_a_swapped_copy_keeps_offsets_nested_spans_and_labels(doc):
    copy = swap_entities(doc, NAMES, random.Random(0), p=1.0)
    assert copy is not None and copy.text != doc.text
    spans = copy.spans[SPANS_KEY]
    assert len(spans) == len(GOLD) and all(s is not None for s in spans)
    # the nested pair before the swaps is where it was, with its text
    assert ("慢性胃炎", "DIS") in triples(copy) and ("胃", "BOD") in triples(copy)
    for span in spans:  # every span's text is its original or a name of its label
        original = {t for t, label in triples(doc) if label == span.label_}
        assert span.text in original | set(NAMES.get(span.label_, [])), span
    assert [s.label_ for s in sorted(spans, key=lambda s: s.start)] == [
        label for _, _, label in GOLD
    ]
    assert list(copy.ents) == flat_choice(list(spans), LABELS)
    assert copy.text.startswith("患者慢性胃炎伴") and copy.text.endswith("。")


def test_deterministic_with_a_seed_and_different_with_another(doc):
    runs = [[d.text for d in augment([doc] * 5, NAMES, copies=2, seed=s)] for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_nothing_to_swap_gives_no_copy(doc):
    assert swap_entities(doc, {}, random.Random(0), p=1.0) is None


def test_names_from_the_training_docs_and_merged(doc):
    own = training_names([doc])
    assert own["DRU"] == ["奥美拉唑"]
    assert merge_names(own, NAMES)["DRU"] == ["二甲双胍", "奥美拉唑", "阿莫西林胶囊"]


def test_dictionary_names_are_clean_terms():
    names = read_names(needs_shared("dicts"))
    assert {"DRU", "DIS", "SYM", "ITE", "DEP"} <= set(names)
    assert all(2 <= len(n) <= 12 and "：" not in n for ns in names.values() for n in ns)
