"""Recall by fate, length and nesting (zh_medner/evaluation/breakdown.py)."""

from zh_medner.evaluation.breakdown import breakdown, is_nested, length_bucket, markdown


def test_each_gold_entity_has_one_fate_and_the_counts_add_up():
    gold = [{(0, 4, "SYM"), (2, 4, "BOD"), (6, 8, "SYM"), (10, 13, "ITE"), (20, 40, "SYM")}]
    pred = [{(0, 4, "SYM"), (6, 9, "SYM"), (10, 13, "DRU")}]
    result = breakdown(pred, gold, ["SYM", "ITE"])
    sym, ite = result["SYM"], result["ITE"]
    assert dict(sym["kinds"]) == {"found": 1, "wrong boundary": 1, "missed": 1}
    assert dict(ite["kinds"]) == {"wrong label": 1}
    assert sym["nested"] == [1, 1] and sym["flat"] == [0, 2]  # 0-4 holds the BOD 2-4
    assert sym["by_length"]["17+"] == [0, 1] and sym["by_length"]["3-4"] == [1, 1]
    assert "### SYM (3 gold entities)" in markdown(result)


def test_lengths_and_nesting():
    assert [length_bucket(n) for n in (1, 3, 6, 12, 30)] == ["1-2", "3-4", "5-8", "9-16", "17+"]
    assert is_nested((2, 4, "BOD"), {(0, 4, "SYM"), (2, 4, "BOD")})
    assert not is_nested((5, 7, "BOD"), {(0, 4, "SYM"), (5, 7, "BOD")})
