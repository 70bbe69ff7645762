"""zh_medner/evaluation/ner.py: the flat and official (nested-inclusive) CMeEE metrics, and the
table.
"""

import pytest
import spacy

from zh_medner.evaluation.ner import (
    all_triples,
    evaluate_ner,
    f1_text,
    flat_triples,
    markdown_table,
    micro_scores,
    per_label_rows,
    report,
)


def doc_with(text, ents, spans=None):
    nlp = spacy.blank("zh")
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
    if spans is not None:
        doc.spans["sc"] = [doc.char_span(s, e, label=label) for s, e, label in spans]
    return doc


def test_official_metric_counts_nested_spans_flat_does_not():
    gold = doc_with(
        "慢性胃炎伴胃痛",
        [(0, 4, "DIS"), (5, 7, "SYM")],
        [(0, 4, "DIS"), (2, 4, "DIS"), (5, 7, "SYM")],
    )
    pred = doc_with("慢性胃炎伴胃痛", [(0, 4, "DIS")], [(0, 4, "DIS"), (2, 4, "DIS")])
    flat = micro_scores([(flat_triples(pred), flat_triples(gold))])
    official = micro_scores([(all_triples(pred), all_triples(gold))])
    assert (flat["p"], flat["r"]) == (1.0, 0.5)
    assert (official["p"], round(official["r"], 4)) == (1.0, round(2 / 3, 4))
    assert official["per_type"]["DIS"] == {"p": 1.0, "r": 1.0, "f": 1.0, "support": 2}
    assert official["per_type"]["SYM"]["support"] == 1 and official["per_type"]["SYM"]["f"] == 0.0


def test_same_span_with_two_types_counts_twice():
    gold = doc_with("胰岛素", [(0, 3, "DRU")], [(0, 3, "DRU"), (0, 3, "ITE")])
    pred = doc_with("胰岛素", [(0, 3, "DRU")], [(0, 3, "DRU")])
    scores = micro_scores([(all_triples(pred), all_triples(gold))])
    assert scores["support"] == 2 and scores["r"] == 0.5


def test_line_breaks_rewrite_what_the_pipeline_reads_and_keep_the_gold_offsets():
    nlp = spacy.blank("zh")
    read = []

    @spacy.Language.component("zh_medner_test_ents_at_line_starts")
    def ents_at_line_starts(doc):  # marks the two characters after each line break
        read.append(doc.text)
        starts = [i + 1 for i, c in enumerate(doc.text) if c == "\n"]
        doc.ents = [doc.char_span(s, s + 2, label="SYM") for s in starts]
        return doc

    nlp.add_pipe("zh_medner_test_ents_at_line_starts")
    gold = [doc_with("发热。咳嗽；胸痛", [(3, 5, "SYM"), (6, 8, "SYM")])]
    scores = evaluate_ner(nlp, gold, line_breaks="。；")
    assert read == ["发热\n咳嗽\n胸痛"]
    assert scores["official"]["f"] == 1.0
    assert evaluate_ner(nlp, gold)["official"]["r"] == 0.0 and read[-1] == gold[0].text


def test_a_pipeline_without_a_span_group_is_scored_on_its_ents():
    pred = doc_with("胃炎", [(0, 2, "DIS")])
    assert all_triples(pred) == {(0, 2, "DIS")}


def test_per_label_table_in_cmeee_order_with_micro_row():
    scores = micro_scores([({(0, 2, "SYM"), (3, 4, "DIS")}, {(0, 2, "SYM"), (5, 6, "DIS")})])
    rows = per_label_rows(scores)
    assert [r[0] for r in rows] == ["DIS", "SYM", "ALL (micro)"]
    assert rows[-1][4] == 2 and rows[0][3] == 0.0 and rows[1][3] == 100.0
    table = markdown_table(rows)
    assert (
        table.startswith("| label | P | R | F1 | support |")
        and "| SYM | 100.0 | 100.0 | 100.0 | 1 |" in table
    )


def test_empty_input_scores_zero_not_an_error():
    scores = micro_scores([])
    assert scores == {
        "p": 0.0,
        "r": 0.0,
        "f": 0.0,
        "support": 0,
        "f_interval": None,
        "per_type": {},
    }


def test_the_f1_interval_resamples_docs():
    # one doc all right, one all wrong: resampled, both ends and the middle (1/2) come out
    right, wrong = ({(0, 2, "SYM")}, {(0, 2, "SYM")}), ({(0, 2, "DIS")}, {(3, 4, "DIS")})
    scores = micro_scores([right, wrong])
    assert scores["f"] == 0.5 and scores["f_interval"] == pytest.approx((0.0, 1.0))
    assert micro_scores([right] * 3)["f_interval"] == pytest.approx((1.0, 1.0))
    text = report(
        {"official": scores, "flat": micro_scores([]), "docs": 2, "chars_per_second": 1.0}, "t"
    )
    assert "micro F1 **50.0** (95% bootstrap interval 0.0-100.0)" in text
    assert "Flat (doc.ents): micro F1 **0.0**\n" in text
    assert f1_text(scores, bold="") == "50.0 (95% bootstrap interval 0.0-100.0)"  # the console's


def test_the_span_heads_training_scorer_gives_the_official_f1_of_this_module():
    """`spacy train` keeps the checkpoint with the best spans_sc_f (the span head's scorer, via
    nlp.evaluate); `evaluate` reports this module's official F1. On the same docs they agree."""
    from spacy.training import Example

    from zh_medner.components.span_choice import SPANS_KEY, flat_choice
    from zh_medner.evaluation.ner import evaluate_ner

    from .serving_pipeline import GOLD, LABELS, small_pipeline

    nlp = small_pipeline()
    unseen = [
        (
            "慢性胃炎伴发热，复查血常规。",
            [(0, 4, "DIS"), (2, 4, "DIS"), (5, 7, "SYM"), (10, 13, "ITE")],
        ),
        ("否认肺炎，近三天胃痛伴发热。", [(2, 4, "DIS"), (8, 10, "SYM"), (11, 13, "SYM")]),
        ("高血压病史十年。", [(0, 3, "DIS")]),
    ]
    gold = []
    for text, spans in GOLD + unseen:
        doc = nlp.make_doc(text)
        doc.spans[SPANS_KEY] = [doc.char_span(s, e, label=label) for s, e, label in spans]
        doc.ents = flat_choice(doc.spans[SPANS_KEY], LABELS)
        gold.append(doc)
    ours = evaluate_ner(nlp, gold)["official"]
    training = nlp.evaluate([Example(nlp.make_doc(g.text), g) for g in gold])
    assert 0 < ours["f"] < 1  # the docs hold misses, so the two could disagree
    assert training["spans_sc_f"] == pytest.approx(ours["f"])
    assert (training["spans_sc_p"], training["spans_sc_r"]) == pytest.approx((ours["p"], ours["r"]))
    for label, scores in ours["per_type"].items():
        assert training["spans_sc_per_type"][label]["f"] == pytest.approx(scores["f"]), label
