"""zh_entity_ruler: phrase patterns made by the tokenizer alone; saved with the pipeline."""

import pytest
import spacy
from spacy.language import Language

PATTERNS = [
    {"label": "DRU", "pattern": "阿莫西林胶囊", "id": "阿莫西林"},
    {"label": "DRU", "pattern": "阿莫仙", "id": "阿莫西林"},
]


@Language.component("fails_if_run")
def fails_if_run(doc):
    raise AssertionError("a component before the ruler ran on a phrase pattern")


@pytest.fixture
def nlp():
    nlp = spacy.blank("zh")
    nlp.add_pipe("fails_if_run")
    return nlp


def test_patterns_are_made_without_running_earlier_components(nlp):
    ruler = nlp.add_pipe("zh_entity_ruler", name="entity_ruler")
    ruler.add_patterns(PATTERNS)  # spaCy's entity_ruler would run `fails_if_run` here
    doc = nlp.make_doc("口服阿莫仙后好转")
    doc = ruler(doc)
    assert [(e.text, e.label_, e.ent_id_) for e in doc.ents] == [("阿莫仙", "DRU", "阿莫西林")]


def test_attributes_that_need_components_still_use_them(nlp):
    ruler = nlp.add_pipe("zh_entity_ruler", config={"phrase_matcher_attr": "LEMMA"})
    with pytest.raises(AssertionError, match="ran on a phrase pattern"):
        ruler.add_patterns(PATTERNS)


def test_overwrite_ents_false_keeps_the_ner_entities(nlp):
    ruler = nlp.add_pipe("zh_entity_ruler", name="entity_ruler")
    ruler.add_patterns(PATTERNS)
    doc = nlp.make_doc("阿莫西林胶囊")
    doc.ents = [doc.char_span(0, 4, label="DRU")]
    assert [(e.text, e.ent_id_) for e in ruler(doc).ents] == [("阿莫西林", "")]


def test_to_disk_round_trip(tmp_path):
    nlp = spacy.blank("zh")
    nlp.add_pipe("zh_entity_ruler", name="entity_ruler").add_patterns(PATTERNS)
    nlp.to_disk(tmp_path / "p")
    again = spacy.load(tmp_path / "p")
    assert again.get_pipe_meta("entity_ruler").factory == "zh_entity_ruler"
    doc = again("诉服用阿莫西林胶囊")
    assert [(e.text, e.ent_id_) for e in doc.ents] == [("阿莫西林胶囊", "阿莫西林")]
