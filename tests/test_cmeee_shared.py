"""Converting the real CMeEE v1 files accounts for every entity (skips without ../shared)."""

import json

import pytest

from zh_medner.annotations.records import EMPTY
from zh_medner.corpus.docbin import convert

from .conftest import needs_shared


@pytest.mark.parametrize(
    "name,n_records,n_dropped",
    [("cmeee_v1_dev.jsonl", 5000, 0), ("cmeee_v1_train.jsonl", 15000, 2)],
)
def test_cmeee_v1_every_entity_kept_or_reported(nlp, name, n_records, n_dropped):
    path = needs_shared("cmeee", "derived", name)
    with path.open(encoding="utf8") as f:
        n_input = sum(len(json.loads(line)["entities"]) for line in f)
    docs, report = convert(nlp, path, "cmeee")
    assert len(docs) == report.records == n_records
    assert report.entities_in == n_input
    assert report.kept + len(report.drops) == n_input
    # nested CMeEE entities (over a thousand in each split) stay in doc.spans
    nested = sum(report.spans_only.values())
    assert nested > 1000
    assert sum(len(d.spans["sc"]) for d in docs) == report.kept
    assert sum(len(d.ents) for d in docs) == report.kept - nested
    # the two empty entities of the training set (start > end), with their lines
    assert len(report.drops) == n_dropped
    assert all(d.reason == EMPTY for d in report.drops)
    if n_dropped:
        assert sorted(d.line for d in report.drops) == [6052, 6422]
