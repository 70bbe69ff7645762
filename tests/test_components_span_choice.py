"""span_choice (zh_medner/components/span_choice.py): the flat choice and the scorer."""

from spacy.training import Example

from zh_medner.components.span_choice import SPANS_KEY, flat_choice, score_spans

from .test_components_span_head import TEXTS, blank, gold_docs


def test_flat_choice_outermost_then_longer_then_earlier_then_label_order():
    doc = blank().make_doc("慢性胃炎伴胃痛")
    inner, outer, crossing = doc[2:4], doc[0:4], doc[3:6]
    spans = [doc.char_span(s.start_char, s.end_char, label="DIS") for s in (inner, outer, crossing)]
    assert [(s.start, s.end) for s in flat_choice(spans)] == [(0, 4)]
    same = [doc.char_span(0, 2, label="ITE"), doc.char_span(0, 2, label="DRU")]
    assert [s.label_ for s in flat_choice(same, ["DRU", "ITE"])] == ["DRU"]
    assert flat_choice([]) == []


def test_nested_spans_count_in_spans_but_not_in_the_flat_view():
    nlp = blank()
    gold = gold_docs(nlp)[0]
    pred = nlp.make_doc(TEXTS[0])  # the nested 胃炎 missed
    pred.spans[SPANS_KEY] = [pred.char_span(2, 6, label="DIS"), pred.char_span(7, 9, label="SYM")]
    pred.ents = list(pred.spans[SPANS_KEY])
    scores = score_spans([Example(pred, gold)])
    assert scores["ents_f"] == 1.0
    assert scores["spans_sc_p"] == 1.0 and round(scores["spans_sc_r"], 3) == round(2 / 3, 3)
    assert scores["spans_sc_per_type"]["DIS"]["r"] == 0.5


def test_another_spans_key_is_read_and_named():
    nlp = blank()
    gold = gold_docs(nlp)[0]
    gold.spans["mine"] = list(gold.spans[SPANS_KEY])
    pred = nlp.make_doc(TEXTS[0])
    pred.spans["mine"] = [pred.char_span(2, 6, label="DIS")]
    scores = score_spans([Example(pred, gold)], spans_key="mine")
    assert scores["spans_mine_p"] == 1.0 and round(scores["spans_mine_r"], 3) == round(1 / 3, 3)
    assert "spans_sc_f" not in scores
