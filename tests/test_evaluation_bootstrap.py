"""zh_medner/evaluation/bootstrap.py: the percentile bootstrap of micro F1 over records."""

import numpy
import pytest

from zh_medner.evaluation import bootstrap
from zh_medner.evaluation.bootstrap import f1_difference, f1_interval


def test_two_records_give_the_three_possible_resamples():
    # (1 tp) and (1 fp): both first -> F1 1, both second -> 0, one of each -> 2/3; the two
    # ends hold a quarter of the resamples each, so a 95% interval spans all of it
    assert f1_interval([(1, 0, 0), (0, 1, 0)]) == pytest.approx((0.0, 1.0))
    # at 60%, from the 20th to the 80th percentile: still both ends; at 40% only the middle
    assert f1_interval([(1, 0, 0), (0, 1, 0)], level=0.6) == pytest.approx((0.0, 1.0))
    assert f1_interval([(1, 0, 0), (0, 1, 0)], level=0.4) == pytest.approx((2 / 3, 2 / 3))


def test_identical_records_give_no_spread():
    low, high = f1_interval([(3, 1, 2)] * 50)
    assert low == pytest.approx(high) == pytest.approx(6 / 9)


def test_more_records_narrow_the_interval():
    rng = numpy.random.default_rng(1)
    # each record one mention: found (tp), missed (fn) or a false alarm (fp)
    outcomes = numpy.eye(3, dtype=int)[rng.choice(3, size=4000, p=[0.6, 0.2, 0.2])]
    small, large = f1_interval(outcomes[:100]), f1_interval(outcomes)
    assert small[1] - small[0] > 3 * (large[1] - large[0])
    point = 2 * 0.6 / (2 * 0.6 + 0.4)
    assert large[0] < point < large[1]


def test_the_seed_fixes_the_interval(monkeypatch):
    counts = [(i % 3, i % 2, i % 5) for i in range(60)]
    assert f1_interval(counts) == f1_interval(counts)
    assert f1_interval(counts, seed=1) != f1_interval(counts)
    # drawn in chunks: their size does not change what a seed gives
    whole = f1_interval(counts, resamples=450)
    monkeypatch.setattr(bootstrap, "CHUNK", 7)
    assert f1_interval(counts, resamples=450) == whole


def test_nothing_to_resample():
    assert f1_interval([]) is None
    assert f1_interval([(0, 0, 0)] * 5) == (0.0, 0.0)  # nothing predicted, nothing gold


@pytest.mark.parametrize("kwargs", [{"level": 1.0}, {"level": 0.0}, {"resamples": 0}])
@pytest.mark.parametrize("counts", [[(1, 0, 0)], []])
def test_bad_settings_are_refused(kwargs, counts):
    with pytest.raises(ValueError, match="level must be"):
        f1_interval(counts, **kwargs)


def test_counts_must_be_rows_of_three():
    with pytest.raises(ValueError, match=r"one \(tp, fp, fn\) row a record"):
        f1_interval([(1, 2), (3, 4), (5, 6)])


def test_the_difference_draws_the_same_records_for_both():
    a = [(0, 1, 0), (1, 0, 0)]  # A: one doc wrong, one right
    b = [(1, 0, 0), (1, 0, 0)]  # B: both right
    # resamples: B - A is 1 (A drew the wrong doc twice), 1/3 (one of each) or 0 (the right
    # one twice); B is ahead in three quarters of them
    diff = f1_difference(a, b)
    assert diff["interval"] == pytest.approx((0.0, 1.0))
    assert diff["b_better"] == pytest.approx(0.75, abs=0.05)
    assert f1_difference(a, a) == {"interval": (0.0, 0.0), "b_better": 0.0}


def test_pairing_tells_apart_what_two_intervals_do_not():
    rng = numpy.random.default_rng(2)
    a = numpy.eye(3, dtype=int)[rng.choice(3, size=300, p=[0.6, 0.2, 0.2])]
    b = a.copy()
    b[:30] = (1, 0, 0)  # B also finds the entity of 30 docs; the rest is the same as A
    low_a, high_a = f1_interval(a)
    low_b, high_b = f1_interval(b)
    assert low_b < high_a  # alone, the two intervals overlap
    diff = f1_difference(a, b)
    assert diff["interval"][0] > 0 and diff["b_better"] > 0.97  # paired, B is better


def test_the_difference_needs_pairs():
    assert f1_difference([], []) is None
    with pytest.raises(ValueError, match="pair them"):
        f1_difference([(1, 0, 0)], [(1, 0, 0), (0, 1, 0)])
