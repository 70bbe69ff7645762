"""zh_medner/components/char_tokenize.py: the batch, wordpiece names included, is exactly
spacy-transformers' `huggingface_tokenize` of the same texts, whichever way it is made."""

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from tokenizers import AddedToken
from transformers import AutoTokenizer, BertTokenizerFast

from zh_medner.components import char_tokenize
from zh_medner.components.char_tokenize import char_tokenizer, tokenize

from .conftest import ROOT

KEYS = ("input_ids", "token_type_ids", "attention_mask", "offset_mapping", "input_texts")
TEXTS = [
    "患者3天前出现发热、咳嗽，考虑社区获得性肺炎。",
    "血常规：WBC 12.3×10^9/L，CRP 45mg/L；HbA1c 7%。",
    "  两个空格开头，结尾也有空格  ",
    "",
    "😀表情符号和\u200b零宽字符，還有繁體字𠀀豈。",  # an ideograph beyond the table, one with NFD
    "Café naïve ＡＢＣ [UNK] [MASK]发热",  # accents, full width, special tokens in the text
    "x" * 120 + "咳",  # a word longer than WordPiece's 100 characters
]


def shipped():
    return AutoTokenizer.from_pretrained(ROOT / "encoders" / "medchar-roformer-4x256")


@pytest.fixture(scope="module")
def tokenizer():
    return shipped()


def assert_upstreams(tokenizer, texts):
    ours, theirs = tokenize(tokenizer, texts), huggingface_tokenize(tokenizer, texts)
    assert [k for k in ours if k in KEYS] == [k for k in theirs if k in KEYS]
    for key in KEYS:
        if key == "input_texts":
            assert ours[key] == theirs[key]
        elif key in theirs:
            numpy.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
            assert ours[key].dtype == theirs[key].dtype


def test_the_shipped_tokenizer_is_read_by_table_and_gives_upstreams_batch(tokenizer, monkeypatch):
    assert char_tokenizer(tokenizer) is not None
    asked = []
    call = type(tokenizer).__call__
    monkeypatch.setattr(
        type(tokenizer), "__call__", lambda s, t, **k: asked.append(t) or call(s, t, **k)
    )
    assert_upstreams(tokenizer, TEXTS)
    # the tokenizer saw the runs between Chinese characters, each once, and no Chinese character
    assert asked[0] == list(dict.fromkeys(asked[0]))
    assert "。" in asked[0] and "3" in asked[0]
    assert not any(char_tokenize._fast_chars(run).any() for run in asked[0])
    asked.clear()
    assert_upstreams(tokenizer, ["发热3天。"])  # runs seen before: no call for this batch
    assert len(asked) == 1  # only upstream's, in assert_upstreams


def test_an_added_token_with_a_chinese_character_turns_the_table_off():
    tokenizer = shipped()
    assert char_tokenizer(tokenizer) is not None
    tokenizer.add_tokens(["<新词>"])
    assert char_tokenizer(tokenizer) is None
    assert_upstreams(tokenizer, ["发热<新词>咳嗽"])
    assert "<新词>" in tokenize(tokenizer, ["发热<新词>"])["input_texts"][0]


@pytest.mark.parametrize(
    "added, kept",
    [
        (AddedToken("qd"), True),
        (AddedToken("<x>", lstrip=True, normalized=False), True),
        (AddedToken("<x>", lstrip=True), False),  # matched on the normalized text, the
        (AddedToken("<x>", rstrip=True), False),  # space put before 热 is taken in
        (AddedToken("a ", normalized=True), False),
        (AddedToken("qd", single_word=True), False),
    ],
)
def test_an_added_latin_token_keeps_the_table_where_it_matches_inside_a_run(added, kept):
    tokenizer = shipped()
    tokenizer.add_tokens([added])
    assert (char_tokenizer(tokenizer) is not None) == kept
    assert_upstreams(tokenizer, ["每日qd口服", "qdqd 发热", "发<x>热", "a发 <x> 热", "a 发"])


def test_a_change_after_the_first_batch_is_seen():
    """Padding on the left, or another post-processor, set after the table was made."""
    from tokenizers.processors import TemplateProcessing

    tokenizer = shipped()
    assert_upstreams(tokenizer, ["发热", "咳嗽三天"])
    tokenizer.padding_side = "left"
    assert char_tokenizer(tokenizer) is None
    assert_upstreams(tokenizer, ["发热", "咳嗽三天"])
    tokenizer.padding_side = "right"
    specials = [("[CLS]", tokenizer.cls_token_id), ("[SEP]", tokenizer.sep_token_id)]
    post = TemplateProcessing(single="[CLS] $A:1 [SEP]", special_tokens=specials)
    tokenizer.backend_tokenizer.post_processor = post
    assert char_tokenizer(tokenizer) is None  # a text of type 1
    assert_upstreams(tokenizer, ["发热", "咳嗽三天"])


def test_the_run_cache_starts_again_when_full_and_keeps_short_runs(tokenizer, monkeypatch):
    monkeypatch.setattr(char_tokenize, "MAX_RUNS", 5)
    fast = char_tokenizer(tokenizer)
    fast.runs = {}
    texts = [f"第{i}次，{i * 7}ml" for i in range(10)]  # two runs each: "3" and "，21ml"
    assert_upstreams(tokenizer, texts[:2])
    assert set(fast.runs) == {"0", "，0ml", "1", "，7ml"}
    assert_upstreams(tokenizer, texts[2:4])
    assert set(fast.runs) == {"2", "，14ml", "3", "，21ml"}
    assert_upstreams(tokenizer, texts)  # more new runs than the cache holds: the first kept
    assert len(fast.runs) == 5
    fast.runs = {}
    long = "x" * (char_tokenize.MAX_RUN_CHARS + 1)
    assert_upstreams(tokenizer, [f"发{long}热", f"发{long[1:]}热"])
    assert set(fast.runs) == {long[1:]}


def test_another_normalizer_runs_the_tokenizer(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n发\n")
    plain = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), tokenize_chinese_chars=False)
    assert char_tokenizer(plain) is None
    assert_upstreams(plain, ["发发a 发"])


CHARS = st.sampled_from(
    list("患者发热咳嗽血常规aBc12 .%\n，。μ℃😀éÅ\u0301\u200b\x00ＡＺ𠀀豈[]") + ["[SEP]"]
)


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.lists(CHARS, max_size=30).map("".join), min_size=1, max_size=5))
def test_any_text_gives_upstreams_batch(tokenizer, texts):
    assert_upstreams(tokenizer, texts)


def test_wordpiece_names_with_gaps_in_the_vocabulary(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\na\nb\n")
    gaps = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    assert (
        tokenize(gaps, ["a b"])["input_texts"] == huggingface_tokenize(gaps, ["a b"])["input_texts"]
    )


def test_a_token_added_after_the_first_batch_is_named():
    """The names are cached per tokenizer; an added token (a new id) renews them."""
    tokenizer = shipped()
    assert tokenize(tokenizer, ["发热"])["input_texts"][0][1:3] == ["发", "热"]
    tokenizer.add_tokens(["<新词>"])
    text = ["发热<新词>"]
    assert (
        tokenize(tokenizer, text)["input_texts"]
        == huggingface_tokenize(tokenizer, text)["input_texts"]
    )
    assert "<新词>" in tokenize(tokenizer, text)["input_texts"][0]


def test_a_token_added_into_a_gap_of_the_vocabulary_is_named(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\na\nb\n")
    gaps = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    tokenize(gaps, ["a b"])
    gaps.add_tokens(["zz"])
    text = ["a zz b"]
    assert tokenize(gaps, text)["input_texts"] == huggingface_tokenize(gaps, text)["input_texts"]
