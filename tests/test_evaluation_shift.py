"""Vocabulary shift between training and an evaluation set (zh_medner/evaluation/shift.py)."""

from zh_medner.evaluation.shift import kind, shift, train_labels


def test_each_entity_is_unseen_same_or_other():
    train = train_labels(
        [("血小板", "BOD"), ("血小板", "BOD"), ("血小板", "ITE"), ("尿常规", "ITE")]
    )
    assert kind("血小板", "BOD", train) == "same"
    assert kind("血小板", "ITE", train) == "other"
    assert kind("总胆红素", "ITE", train) == "unseen"
    result = shift(
        train, [("血小板", "ITE"), ("尿常规", "ITE"), ("总胆红素", "ITE")], ["ITE", "SYM"]
    )
    assert result["ITE"] == {"n": 3, "unseen": 0.3333, "same": 0.3333, "other": 0.3333}
    assert result["SYM"] == {"n": 0, "unseen": 0.0, "same": 0.0, "other": 0.0}


def test_a_tie_in_training_counts_as_the_label():
    train = train_labels([("体温", "ITE"), ("体温", "SYM")])
    assert kind("体温", "ITE", train) == kind("体温", "SYM", train) == "same"


def test_a_lexicon_counts_the_unseen_texts_it_lists():
    train = train_labels([("尿常规", "ITE")])
    gold = [("尿常规", "ITE"), ("总胆红素", "ITE"), ("球蛋白", "ITE")]
    result = shift(train, gold, ["ITE"], lexicon={"ITE": ["总胆红素", "尿常规"]})
    assert result["ITE"]["n"] == 3 and result["ITE"]["unseen"] == 0.6667
    assert result["ITE"]["unseen_in_lexicon"] == 0.5  # 总胆红素 of the two unseen
