"""Subsets and active-learning selection (zh_medner/training/selection.py, active.py)."""

import numpy
import pytest
import spacy

from zh_medner.components.span_head import NEG_INF
from zh_medner.training.active import labels_random_needs, pick
from zh_medner.training.experiments import Plan
from zh_medner.training.selection import STRATEGIES, nested_subsets, rank, uncertainty

from .test_components_span_head import TEXTS
from .test_components_transformer import encoder, saved  # noqa: F401 (fixtures)


def test_subsets_are_nested_seeded_and_distinct():
    subsets = nested_subsets(1000, [100, 300], seed=3)
    assert set(subsets[100]) <= set(subsets[300]) and len(set(subsets[300])) == 300
    assert subsets == nested_subsets(1000, [100, 300], seed=3)
    assert subsets[100] != nested_subsets(1000, [100], seed=4)[100]
    with pytest.raises(ValueError, match="smaller --sizes"):
        nested_subsets(10, [100], seed=0)


def test_uncertainty_of_the_closest_call_and_the_expected_errors():
    cells = numpy.full((2, 3, 2), NEG_INF, dtype="float32")
    cells[0, 0, 0], cells[1, 2, 0] = 4.0, -0.1  # a sure span, and a close miss
    scores = uncertainty(cells, numpy.zeros(2))
    assert scores["least_confident"] == pytest.approx(1 / (1 + numpy.exp(-0.1)), abs=1e-6)
    p_sure, p_miss = 1 / (1 + numpy.exp(-4.0)), 1 / (1 + numpy.exp(0.1))
    assert scores["expected_errors"] == pytest.approx((1 - p_sure) + p_miss, abs=1e-6)
    shifted = uncertainty(cells, numpy.array([0.0, -0.1]))  # a per-label threshold moves it
    assert shifted["least_confident"] == pytest.approx(0.5)


def test_each_strategy_ranks_every_position_once():
    scores = [
        {"least_confident": c, "expected_errors": e} for c, e in [(0.9, 1), (0.6, 5), (0.7, 2)]
    ]
    assert rank("least_confident", scores) == [1, 2, 0]
    assert rank("expected_errors", scores) == [1, 2, 0]
    assert sorted(rank("random", scores, seed=1)) == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown strategy"):
        rank("greedy", scores)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_pick_comes_from_the_unlabelled_pool_without_repeats(saved, strategy):  # noqa: F811
    nlp = spacy.blank("zh")
    pool = [nlp.make_doc(t) for t in TEXTS * 4]
    labelled = [0, 5]
    picked = pick(strategy, saved, pool, labelled, 4, seed=0, threads=1)
    assert len(picked) == len(set(picked)) == 4
    assert not set(picked) & set(labelled) and all(0 <= i < len(pool) for i in picked)


def test_random_needs_labels_read_off_its_curve():
    curve = [(100, 0.30, 2), (200, 0.40, 2), (300, 0.44, 2)]
    assert labels_random_needs(curve, 0.35) == pytest.approx(150)
    assert labels_random_needs(curve, 0.20) == 100
    assert labels_random_needs(curve, 0.50) is None


def test_budget_of_the_nearest_size_at_or_above():
    plan = Plan(steps={"100": 400, "300": 600})
    assert [plan.steps_for(n) for n in (50, 100, 200, 300, 5000)] == [400, 400, 600, 600, 600]
    with pytest.raises(ValueError, match="unknown recipe"):
        plan.recipe("magic")


def test_a_threshold_per_label_from_its_own_spans():
    from zh_medner.training.thresholds import best_threshold

    # a high-precision, low-recall label: gold spans sit just below 0
    cells = [(2.0, True), (-0.4, True), (-0.6, True), (-0.9, False), (-2.0, False)]
    threshold, f1 = best_threshold(cells, gold=4)
    assert threshold == -0.75 and f1 == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))
    assert best_threshold([(1.0, True)], gold=1)[0] == 0.0  # ties stay at 0
    assert best_threshold([], gold=0) == (0.0, 0.0)


def test_a_threshold_is_kept_only_where_it_helps_across_the_halves():
    from zh_medner.training.thresholds import _gains_across_halves

    low_recall = [(2.0, True), (-0.4, True), (-0.6, True), (-0.9, False), (-2.0, False)]
    calibrated = [(1.0, True), (0.5, True), (-0.4, False), (-0.6, False)]
    both = [({"ITE": low_recall}, {"ITE": 4}), ({"ITE": low_recall}, {"ITE": 4})]
    assert all(g > 0 for g in _gains_across_halves("ITE", both))
    mixed = [({"ITE": low_recall}, {"ITE": 4}), ({"ITE": calibrated}, {"ITE": 2})]
    gains = _gains_across_halves("ITE", mixed)
    assert gains[0] < 0 and gains[1] == 0  # -0.75 hurts the calibrated half; 0 changes nothing
    assert _gains_across_halves("SYM", mixed) == [0.0, 0.0]


def test_tuning_sets_thresholds_on_the_head(saved):  # noqa: F811
    from zh_medner.training.thresholds import tune_thresholds

    from .test_components_span_head import gold_docs

    nlp = spacy.load(saved)
    tuned = tune_thresholds(nlp, gold_docs(nlp))
    head = nlp.get_pipe("span_head")
    assert set(tuned) == set(head.labels)
    assert head.cfg["thresholds"] == {k: v["threshold"] for k, v in tuned.items()}
    assert all(v["f1"] > 0.9 for v in tuned.values())  # the learnt docs
    checked = tune_thresholds(nlp, gold_docs(nlp), cross_check=True)
    for label, v in checked.items():
        assert len(v["gains_across_halves"]) == 2
        assert v["threshold"] in (0.0, tuned[label]["threshold"])
        assert v["threshold"] == 0.0 or min(v["gains_across_halves"]) > 0
