"""zh_medner.char_tokenizer.v1: one token per character, and any Python string goes through."""

import spacy

from zh_medner.components.tokenizer import REPLACEMENT


def char_nlp():
    return spacy.blank(
        "zh", config={"nlp": {"tokenizer": {"@tokenizers": "zh_medner.char_tokenizer.v1"}}}
    )


def test_one_token_per_character_as_spacys_char_segmenter():
    text = "患者3天前发热38.5℃，HbA1c 7%。"
    assert [t.text for t in char_nlp()(text)] == [t.text for t in spacy.blank("zh")(text)]


def test_lone_surrogates_and_control_characters_keep_every_offset():
    text = "发热\ud800咳嗽\x00\x1b头痛\u200b。"
    doc = char_nlp()(text)
    assert len(doc.text) == len(text)
    assert doc.text == text.replace("\ud800", REPLACEMENT).replace("\x00", REPLACEMENT).replace(
        "\x1b", REPLACEMENT
    )
    assert doc.char_span(text.index("头痛"), text.index("头痛") + 2).text == "头痛"
    doc.text.encode("utf8")  # what the Hugging Face tokenizer and DocBin need


def test_tabs_and_newlines_are_left_alone():
    text = "发热\t咳嗽\r\n头痛"
    assert char_nlp()(text).text == text


def test_saved_and_loaded_with_the_pipeline(tmp_path):
    nlp = char_nlp()
    nlp.to_disk(tmp_path / "p")
    again = spacy.load(tmp_path / "p")
    assert again("发热\ud800").text == "发热" + REPLACEMENT
