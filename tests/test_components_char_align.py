"""zh_medner/components/char_align.py: the numpy alignment and wordpiece names are exactly
spacy-transformers' own, on the shipped encoder's tokenizer and tokenizer of characters."""

import numpy
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy_transformers.align import get_alignment_via_offset_mapping
from spacy_transformers.layers.transformer_model import huggingface_tokenize
from spacy_transformers.span_getters import configure_strided_spans
from transformers import AutoTokenizer

from zh_medner.components.char_align import EncoderText, align_by_offsets
from zh_medner.components.char_tokenize import tokenize

from .conftest import ROOT

TEXTS = [
    "患者3天前出现发热、咳嗽，考虑社区获得性肺炎。",
    "血常规：WBC 12.3×10^9/L，CRP 45mg/L；HbA1c 7%。",
    "  两个空格开头，结尾也有空格  ",
    "予头孢曲松钠2g静滴qd抗感染治疗\n复查胸部CT示：右下肺斑片影较前吸收。",
    "x",
    "咳嗽" * 90,  # several overlapping windows
    "😀表情符号和\u200b零宽字符，還有繁體字。",
]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(ROOT / "encoders" / "medchar-roformer-4x256")


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank(
        "zh", config={"nlp": {"tokenizer": {"@tokenizers": "zh_medner.char_tokenizer.v1"}}}
    )


def both(nlp, tokenizer, texts, window=16, stride=12):
    docs = [nlp(t) for t in texts]
    spans = [s for ds in configure_strided_spans(window, stride)(docs) for s in ds]
    ours = tokenize(tokenizer, [s.text for s in spans])
    theirs = huggingface_tokenize(tokenizer, [s.text for s in spans])
    return spans, ours, theirs


def assert_same(a, b):
    numpy.testing.assert_array_equal(a.lengths, b.lengths)
    numpy.testing.assert_array_equal(a.dataXd, b.dataXd)


def test_the_alignment_and_names_are_upstreams(nlp, tokenizer):
    spans, ours, theirs = both(nlp, tokenizer, TEXTS)
    assert ours["input_texts"] == theirs["input_texts"]
    expected = get_alignment_via_offset_mapping(spans, theirs["offset_mapping"])
    assert expected.lengths.sum() > 0 and (expected.lengths == 0).any()  # spaces align to none
    assert_same(align_by_offsets(spans, ours["offset_mapping"]), expected)


def test_a_doc_in_two_batches_places_and_an_empty_batch(nlp, tokenizer):
    docs = [nlp(t) for t in TEXTS[:3]]
    spans = [docs[1][0:5], docs[0][2:9], docs[1][3:20]]  # docs out of order, overlapping
    offsets = huggingface_tokenize(tokenizer, [s.text for s in spans])["offset_mapping"]
    assert_same(align_by_offsets(spans, offsets), get_alignment_via_offset_mapping(spans, offsets))
    empty = align_by_offsets([], numpy.zeros((0, 0, 2), dtype="int64"))
    assert len(empty.dataXd) == 0 and len(empty.lengths) == 0


def test_the_character_after_a_span_counts_as_its_last_tokens(nlp):
    """Upstream maps the character just past a span's text to its last token (no fast
    tokenizer gives such an offset, but the alignment stays upstream's)."""
    doc = nlp("ab c")
    spans = [doc[0:2], doc[1:4]]
    offsets = numpy.array([[[0, 0], [1, 3], [0, 0]], [[0, 3], [0, 0], [0, 0]]], dtype="int64")
    assert_same(align_by_offsets(spans, offsets), get_alignment_via_offset_mapping(spans, offsets))


CHARS = st.sampled_from(list("患者发热咳嗽血常规aBc12 .%\n，。μ℃😀"))


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(CHARS, min_size=1, max_size=40), min_size=1, max_size=4))
def test_any_text_aligns_as_upstream(nlp, tokenizer, texts):
    spans, ours, theirs = both(nlp, tokenizer, texts, window=8, stride=6)
    assert ours["input_texts"] == theirs["input_texts"]
    assert_same(
        align_by_offsets(spans, ours["offset_mapping"]),
        get_alignment_via_offset_mapping(spans, theirs["offset_mapping"]),
    )


def _pipeline(nlp):
    """A transformer on the shipped encoder, windows of 32 characters every 24."""
    pipe = spacy.blank("zh", config=nlp.config)
    name = str(ROOT / "encoders" / "medchar-roformer-4x256")
    window = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 32, "stride": 24}
    model = {"@architectures": "zh_medner.TransformerModel.v1", "name": name, "get_spans": window}
    # line breaks and spaces reach the tokenizer, which drops them, as upstream's do
    upstreams = {"precision": "fp32", "line_break": "", "space": ""}
    pipe.add_pipe("transformer", config={"model": {**model, **upstreams}})
    pipe.initialize()
    return pipe


def test_the_pipeline_forward_gives_upstreams_batch(nlp):
    """The architecture's forward against TransformerModel.v3's on the same weights."""
    from spacy_transformers.layers.transformer_model import forward as upstream

    from zh_medner.components.char_align import forward

    pipe = _pipeline(nlp)
    trf = pipe.get_pipe("transformer").model
    assert trf._func is forward
    docs = [pipe.make_doc(t) for t in TEXTS]
    ours, theirs = forward(trf, docs, False)[0], upstream(trf, docs, False)[0]
    assert_same(ours.align, theirs.align)
    assert ours.wordpieces.strings == theirs.wordpieces.strings
    numpy.testing.assert_allclose(
        ours.model_output.last_hidden_state, theirs.model_output.last_hidden_state, atol=1e-5
    )


def test_the_split_per_doc_is_upstreams(nlp):
    """CharTransformerBatch.split_by_doc against upstream's, with an empty doc and a doc that
    comes twice in the batch, with the positions `forward` found and without them."""
    from spacy_transformers.data_classes import FullTransformerBatch

    from zh_medner.components.char_align import CharTransformerBatch, forward

    pipe = _pipeline(nlp)
    docs = [pipe.make_doc(t) for t in TEXTS]
    docs = docs[:2] + [pipe.make_doc("")] + docs[2:] + [docs[0]]
    batch = forward(pipe.get_pipe("transformer").model, docs, False)[0]
    assert isinstance(batch, CharTransformerBatch) and batch.positions is not None
    ours, theirs = batch.split_by_doc(), FullTransformerBatch.split_by_doc(batch)
    batch.positions = None  # a batch made elsewhere numbers its docs itself
    unplaced = batch.split_by_doc()
    assert len(ours) == len(theirs) == len(unplaced) == len(docs)
    for a, b, c in zip(ours, theirs, unplaced):
        assert_same(c.align, b.align)
        assert_same(a.align, b.align)
        assert a.wordpieces.strings == b.wordpieces.strings
        assert a.model_output.keys() == b.model_output.keys()
        for key in a.model_output:
            numpy.testing.assert_array_equal(a.model_output[key], b.model_output[key])
    assert len(ours[2].align.lengths) == 0 and len(ours[-1].align.lengths) == len(docs[0])


def test_the_alignment_benchmark_prints_both_rows(nlp, tmp_path, capsys):
    from spacy.tokens import DocBin

    from .conftest import load_script

    DocBin(docs=[nlp(t) for t in TEXTS]).to_disk(tmp_path / "docs.spacy")
    load_script("benchmark_alignment").main(
        tmp_path / "docs.spacy", ROOT / "encoders" / "medchar-roformer-4x256", 4, 16, 12
    )
    out = capsys.readouterr().out
    assert "spacy-transformers" in out and "zh_medner char_align" in out


@pytest.mark.parametrize(
    "text,read",
    [
        ("发热\n咳嗽\r\n头痛", "发热。咳嗽。。头痛"),
        ("无咳嗽 发热  3天", "无咳嗽，发热，，3天"),
        ("HBV DNA 1.2 IU/ml", "HBV DNA 1.2 IU/ml"),  # Latin and digits keep their spaces
        ("予恩替卡韦 0.5mg\tqd", "予恩替卡韦，0.5mg\tqd"),
        ("\u3000\u3000头痛", "，，头痛"),
    ],
)
def test_the_encoder_reads_stand_ins_for_line_breaks_and_spaces_beside_chinese(text, read):
    assert EncoderText("。", "，")(text) == read
    assert EncoderText()(text) == text


def test_a_stand_in_of_more_than_one_character_is_refused():
    with pytest.raises(ValueError, match="space '  ': give one character"):
        EncoderText("。", "  ")
