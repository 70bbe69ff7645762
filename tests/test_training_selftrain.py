"""Self-training: the teacher labels unlabeled texts, and the share it is surest of is kept."""

import pytest
import spacy
from spacy.tokens import DocBin

from zh_medner.components.span_choice import SPANS_KEY
from zh_medner.training.curve import teacher_docs
from zh_medner.training.experiments import Plan, Recipe
from zh_medner.training.selection import doc_uncertainties
from zh_medner.training.selftrain import pseudo_label

from .test_components_span_head import TEXTS
from .test_components_transformer import encoder, saved  # noqa: F401 (fixtures)

UNSEEN = ["患者胃痛伴发热两天。", "血糖控制可。", "慢性胃炎病史十年，口服胰岛素。"]


def _spans(doc):
    return [(s.start_char, s.end_char, s.label_) for s in doc.spans[SPANS_KEY]]


def test_every_text_kept_carries_the_teachers_spans_and_nothing_else(saved):  # noqa: F811
    texts = TEXTS + UNSEEN
    docs, report = pseudo_label(saved, texts, keep=1.0)
    teacher = list(spacy.load(saved).pipe(texts))
    assert [d.text for d in docs] == texts
    assert [_spans(d) for d in docs] == [_spans(d) for d in teacher]
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d in docs] == [
        [(e.start, e.end, e.label_) for e in d.ents] for d in teacher
    ]
    assert _spans(docs[0])  # the learnt texts come back with their entities
    assert report == {
        "pseudo_texts": 6,
        "pseudo_kept": 6,
        "pseudo_spans": sum(len(_spans(d)) for d in teacher),
    }
    assert all(not d.user_data for d in docs)  # no transformer output travels with them
    assert len(list(DocBin(docs=docs).get_docs(docs[0].vocab))) == 6


def test_the_share_kept_is_the_surest_per_character_in_input_order(saved):  # noqa: F811
    texts = TEXTS + UNSEEN
    docs, report = pseudo_label(saved, texts, keep=0.5)
    nlp = spacy.load(saved)
    ran = list(nlp.pipe(texts))
    per_char = [
        u["expected_errors"] / len(d)
        for d, u in zip(ran, doc_uncertainties(nlp.get_pipe("span_head"), ran))
    ]
    surest = sorted(sorted(range(len(texts)), key=lambda i: (per_char[i], i))[:3])
    assert [d.text for d in docs] == [texts[i] for i in surest]
    assert report["pseudo_kept"] == 3


def test_a_share_outside_zero_to_one_is_refused(saved):  # noqa: F811
    with pytest.raises(ValueError, match="keep 0"):
        pseudo_label(saved, TEXTS, keep=0)


def test_a_student_without_its_teachers_run_says_which_recipe_goes_first(tmp_path):
    recipe = Recipe(name="selftrain", teacher="plain", pseudo_texts=10)
    with pytest.raises(ValueError, match="--recipes plain,selftrain"):
        teacher_docs(Plan(steps={"100": 10}), recipe, tmp_path, 300, 0)
    assert teacher_docs(Plan(steps={"100": 10}), Recipe(name="plain"), tmp_path, 300, 0) == ([], {})
