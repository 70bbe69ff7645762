"""The learning curve's data (zh_medner/training/curve.py): splits, subsets, augmented copies."""

import json

import spacy
from spacy.tokens import DocBin

from zh_medner.components.span_choice import SPANS_KEY
from zh_medner.training import experiments
from zh_medner.training.curve import prepare, read_docs, split_pool, subset_docs
from zh_medner.training.experiments import Plan, Recipe, Results, run_once
from zh_medner.training.selection import nested_subsets


def corpus(tmp_path, n=120):
    nlp = spacy.blank("zh")
    docs = []
    for i in range(n):
        doc = nlp.make_doc(f"第{i}例患者服用阿司匹林后头痛。")
        start = doc.text.index("阿司匹林")
        doc.spans[SPANS_KEY] = [doc.char_span(start, start + 4, label="DRU")]
        doc.ents = list(doc.spans[SPANS_KEY])
        docs.append(doc)
    path = tmp_path / "train.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def test_prepare_keeps_tune_pool_and_unlabeled_text_apart(tmp_path):
    train = corpus(tmp_path)
    info = prepare(Plan(steps={"10": 1}, dev_limit=7), train, train, tmp_path / "out", [10, 30], 0)
    assert info == {"pool": 70, "tune": 50, "unlabeled": 40}
    tune, pool = split_pool(read_docs(train), 0)
    largest = {pool[i].text for i in nested_subsets(len(pool), [10, 30], 0)[30]}
    unlabeled = set((tmp_path / "out" / "unlabeled.txt").read_text(encoding="utf8").split("\n"))
    assert not largest & unlabeled and not {d.text for d in tune} & unlabeled
    assert len(read_docs(tmp_path / "out" / "dev.spacy")) == 7


def test_an_augment_recipe_adds_swapped_copies_of_its_own_records(tmp_path):
    pool = read_docs(corpus(tmp_path))
    names = tmp_path / "dicts" / "cmekg"
    names.mkdir(parents=True)
    (names / "drug_generic_names.txt").write_text("布洛芬\n对乙酰氨基酚\n", encoding="utf8")
    plain = subset_docs(pool, range(10), Recipe("plain"), tmp_path / "dicts", seed=0)
    more = subset_docs(pool, range(10), Recipe("aug", augment=True), tmp_path / "dicts", seed=0)
    assert len(plain) == 10 and more[:10] == plain and len(more) > 10
    copies = {s.text for d in more[10:] for s in d.spans[SPANS_KEY]}
    assert copies <= {"布洛芬", "对乙酰氨基酚", "阿司匹林"} and copies - {"阿司匹林"}


def test_a_finished_run_is_not_run_again(tmp_path):
    results = Results(tmp_path / "r.jsonl")
    calls = []

    def work():
        calls.append(1)
        return {"official_f": 0.5}

    run_once(results, "plain/100/seed0", work, log=lambda *_: None)
    run_once(Results(tmp_path / "r.jsonl"), "plain/100/seed0", work, log=lambda *_: None)
    assert len(calls) == 1
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["plain/100/seed0"]


def test_a_recipes_own_budget_wins_and_is_the_one_reported(tmp_path, monkeypatch):
    """plain_1200's overrides replace the plan's budget in `spacy train`, and the row says so."""
    ran = []
    monkeypatch.setattr(experiments.subprocess, "run", lambda cmd, **kw: ran.append(cmd))
    plan = Plan(steps={"300": 350})
    recipe = Recipe(name="long", overrides={"training.max_steps": "1200"})
    info = experiments.train(plan, recipe, tmp_path / "t", tmp_path / "d", tmp_path / "m", 300, 0)
    assert ran[0][ran[0].index("--training.max_steps") + 1] == "1200"
    assert info["steps"] == 1200
    assert experiments.train(plan, Recipe(name="plain"), *[tmp_path] * 3, 300, 0)["steps"] == 350
    assert ran[1][ran[1].index("--training.max_steps") + 1] == "350"
