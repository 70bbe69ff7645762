"""span_head (zh_medner/components/span_head.py): nested spans, the flat entities, scoring,
saving, training.
"""

import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import Model

from zh_medner.components.span_choice import SPANS_KEY, flat_choice

from .conftest import ROOT

TEXTS = ["患者慢性胃炎伴胃痛三天。", "口服胰岛素控制血糖。", "否认高血压病史。"]
# (text index, start, end, label): nested 胃炎 inside 慢性胃炎, and 胰岛素 both DRU and ITE
GOLD = [
    (0, 2, 6, "DIS"),
    (0, 4, 6, "DIS"),
    (0, 7, 9, "SYM"),
    (1, 2, 5, "DRU"),
    (1, 2, 5, "ITE"),
    (1, 7, 9, "ITE"),
    (2, 2, 5, "DIS"),
]


def blank():
    return spacy.blank(
        "zh",
        config={
            "nlp": {"tokenizer": {"@tokenizers": "spacy.zh.ChineseTokenizer", "segmenter": "char"}}
        },
    )


def gold_docs(nlp):
    docs = [nlp.make_doc(t) for t in TEXTS]
    for i, doc in enumerate(docs):
        spans = [doc.char_span(s, e, label=label) for j, s, e, label in GOLD if j == i]
        doc.spans[SPANS_KEY] = spans
        doc.ents = flat_choice(spans, ["DIS", "SYM", "DRU", "ITE"])
    return docs


@pytest.fixture(scope="module")
def trained():
    """A CNN-backed span head that has learnt the three gold docs by heart."""
    nlp = blank()
    nlp.add_pipe(
        "span_head", config={"model": {"max_length": 8, "tok2vec": {"width": 64, "depth": 2}}}
    )
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(150):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    return nlp


def triples(doc):
    return sorted((s.start_char, s.end_char, s.label_) for s in doc.spans[SPANS_KEY])


def test_nested_spans_and_two_types_on_one_span_come_out(trained):
    for i, text in enumerate(TEXTS):
        doc = trained(text)
        assert triples(doc) == sorted((s, e, label) for j, s, e, label in GOLD if j == i)


def test_flat_entities_are_the_converters_choice(trained):
    doc = trained(TEXTS[0])
    assert [(e.text, e.label_) for e in doc.ents] == [("慢性胃炎", "DIS"), ("胃痛", "SYM")]
    doc = trained(TEXTS[1])
    assert [(e.text, e.label_) for e in doc.ents] == [("胰岛素", "DRU"), ("血糖", "ITE")]


def test_scorer_reports_flat_and_nested_with_per_type(trained):
    nlp = blank()
    examples = [Example(trained(d.text), d) for d in gold_docs(nlp)]
    scores = trained.get_pipe("span_head").scorer(examples)
    assert scores["spans_sc_f"] == 1.0 and scores["ents_f"] == 1.0
    assert set(scores["spans_sc_per_type"]) == {"DIS", "SYM", "DRU", "ITE"}


def test_empty_doc_and_a_4000_character_record(trained):
    assert list(trained("").ents) == [] and len(trained("").spans[SPANS_KEY]) == 0
    long = trained("患者慢性胃炎伴胃痛三天。" * 340)
    assert len(long) > 4000
    assert len(long.spans[SPANS_KEY]) >= 340 and all(
        e.end - e.start <= 8 for e in long.spans[SPANS_KEY]
    )


def test_empty_docs_in_a_batch_stay_out_of_the_model(trained, monkeypatch):
    """A transformer listener gives an empty doc a (0, 0) array, which the lexicon config's
    concatenation refuses: predict keeps empty docs out of the model."""
    head = trained.get_pipe("span_head")
    seen, predict = [], Model.predict

    def spy(model, X):
        if model is head.model:
            seen.extend(X)
        return predict(model, X)

    monkeypatch.setattr(Model, "predict", spy)
    docs = list(trained.pipe(["", TEXTS[0], "", TEXTS[1]]))
    assert seen and all(len(doc) for doc in seen) and len(seen) == 2
    assert len(docs[0].spans[SPANS_KEY]) == 0 and len(docs[1].spans[SPANS_KEY]) > 0


def test_save_and_load_round_trip(trained, tmp_path):
    trained.to_disk(tmp_path / "p")
    again = spacy.load(tmp_path / "p")
    for text in TEXTS:
        assert triples(again(text)) == triples(trained(text))
    data = trained.get_pipe("span_head").to_bytes()
    fresh = spacy.load(tmp_path / "p")
    fresh.get_pipe("span_head").from_bytes(data)
    (scores,) = fresh.get_pipe("span_head").predict([fresh.make_doc(TEXTS[0])])
    assert numpy.allclose(
        scores, trained.get_pipe("span_head").predict([trained.make_doc(TEXTS[0])])[0], atol=1e-5
    )


def test_labels_after_initialisation_are_refused(trained):
    with pytest.raises(ValueError, match="after the model is initialised"):
        trained.get_pipe("span_head").add_label("NEW")


def test_trains_through_spacy_train_with_the_tiny_encoder(tmp_path):
    nlp = blank()
    docs = gold_docs(nlp) * 4
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    encoder = tmp_path / "encoder"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_random_encoder.py"),
            str(encoder),
            "--hidden",
            "32",
            "--layers",
            "1",
            "--heads",
            "2",
            "--intermediate",
            "64",
        ],
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy",
            "train",
            str(ROOT / "configs" / "ner_trf.cfg"),
            "--output",
            str(tmp_path / "out"),
            "--paths.train",
            str(tmp_path / "train.spacy"),
            "--paths.dev",
            str(tmp_path / "train.spacy"),
            "--paths.encoder",
            str(encoder),
            "--training.max_steps",
            "4",
            "--training.eval_frequency",
            "2",
        ],
        capture_output=True,
        text=True,
        env={"TOKENIZERS_PARALLELISM": "false", "PATH": "", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trained = spacy.load(tmp_path / "out" / "model-last")
    assert trained.pipe_names == ["transformer", "span_head"]
    assert SPANS_KEY in trained(TEXTS[0]).spans


def test_an_untrained_head_predicts_few_spans_and_never_more_than_the_cap():
    from zh_medner.components.span_head import MAX_SPANS_PER_CHAR

    nlp = blank()
    pipe = nlp.add_pipe("span_head", config={"model": {"max_length": 8, "tok2vec": {"width": 32}}})
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    nlp.initialize(lambda: examples)
    doc = nlp("患者慢性胃炎伴胃痛三天。" * 20)
    assert len(doc.spans[SPANS_KEY]) < len(doc)  # the "no span" prior
    scores = pipe.model.ops.alloc4f(1, len(pipe.labels), len(doc), 8) + 1.0  # every cell a span
    pipe.set_annotations([doc], scores)
    assert len(doc.spans[SPANS_KEY]) == MAX_SPANS_PER_CHAR * len(doc)


def test_update_refuses_what_is_not_an_example(trained):
    with pytest.raises(TypeError, match="Example"):
        trained.get_pipe("span_head").update([trained.make_doc(TEXTS[0])])


def test_per_label_thresholds_override_the_global_one(trained):
    head = trained.get_pipe("span_head")
    doc = trained(TEXTS[0])
    assert any(s.label_ == "SYM" for s in doc.spans[SPANS_KEY])
    head.cfg["thresholds"] = {"SYM": 1e9}  # nothing passes
    try:
        doc = trained(TEXTS[0])
        assert not any(s.label_ == "SYM" for s in doc.spans[SPANS_KEY])
        assert any(s.label_ == "DIS" for s in doc.spans[SPANS_KEY])
        fresh = blank()
        fresh.add_pipe(
            "span_head", config={"model": {"max_length": 8, "tok2vec": {"width": 64, "depth": 2}}}
        )
        fresh.get_pipe("span_head").from_bytes(head.to_bytes())
        assert fresh.get_pipe("span_head").cfg["thresholds"] == {"SYM": 1e9}  # saved with it
    finally:
        head.cfg["thresholds"] = {}


def test_prediction_by_length_buckets_equals_one_padded_batch(trained, monkeypatch):
    import zh_medner.components.span_head as span_head

    head = trained.get_pipe("span_head")
    docs = [trained.make_doc(t) for t in [TEXTS[0] * 3, TEXTS[1], "", TEXTS[2], TEXTS[0]]]
    monkeypatch.setattr(span_head, "PREDICT_DOCS", 1000)
    whole = head.predict(docs)
    monkeypatch.setattr(span_head, "PREDICT_DOCS", 2)
    buckets = head.predict(docs)
    assert [s.shape for s in whole] == [s.shape for s in buckets]
    assert [s.shape[1] for s in buckets] == [len(d) for d in docs]
    for a, b in zip(whole, buckets):
        numpy.testing.assert_allclose(a, b, atol=1e-5)


def test_keep_scores_leaves_each_docs_scores_on_it(trained, monkeypatch):
    from zh_medner.components.span_head import SCORES_KEY

    head = trained.get_pipe("span_head")
    assert SCORES_KEY not in trained(TEXTS[0]).user_data  # off by default
    monkeypatch.setattr(head, "keep_scores", True)
    docs = list(trained.pipe([TEXTS[1], "", TEXTS[0]]))
    for doc, predicted in zip(docs, head.predict(docs)):
        numpy.testing.assert_allclose(doc.user_data[SCORES_KEY], predicted, atol=1e-6)
    assert docs[1].user_data[SCORES_KEY].shape == (len(head.labels), 0, head.max_length)
