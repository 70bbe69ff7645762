"""The speed benchmark: records in their own order, one row per precision, scored on gold."""

import importlib
import json

import spacy
from spacy.tokens import DocBin

from .conftest import ROOT
from .test_components_span_head import blank, gold_docs
from .test_components_transformer import encoder, saved  # noqa: F401 (fixtures)


def test_one_row_per_precision_with_its_speed_and_scores(saved, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # rows run in spawned processes
    bench = importlib.import_module("benchmark_speed")
    gold = tmp_path / "gold.spacy"
    DocBin(docs=gold_docs(blank()) * 3, store_user_data=True).to_disk(gold)
    out = tmp_path / "speed.json"
    bench.main(
        pipeline_path=str(saved),
        data=gold,
        fallback=gold,
        limit=0,
        threads=1,
        precisions="fp32,int8",
        processes=0,
        repeats=1,
        hf=False,
        wheel=None,
        output=out,
        components=True,
        warm=False,
    )
    report = json.loads(out.read_text(encoding="utf8"))
    assert report["warm"] is False
    rows = report["rows"]
    assert list(rows) == ["pipeline fp32", "pipeline int8"]
    for name, row in rows.items():
        assert row["docs"] == 9 and row["chars_per_s"] > 0, row
        assert row["precision"] == name.split()[-1]
        assert row["official_f"] > 0.9  # the learnt docs, at either precision
        assert row["runs_chars_per_s"] == [row["chars_per_s"]]
    # where the time goes: make_doc, then every component of the pipeline, at each precision
    spent = report["components_seconds"]
    assert list(spent) == ["fp32", "int8"]
    for seconds in spent.values():
        assert list(seconds) == ["make_doc", *spacy.load(saved).pipe_names]
        assert all(s >= 0 for s in seconds.values()) and seconds["transformer"] > 0
    # the encoder's forward: a part of the transformer component's time, at each precision
    for precision, forward in report["encoder_forward_seconds"].items():
        assert 0 < forward < spent[precision]["transformer"]


def test_repeats_keep_the_fastest_run_and_list_every_run(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    bench = importlib.import_module("benchmark_speed")
    runs = [{"chars_per_s": 5.0, "f": 1}, {"error": "killed"}, {"chars_per_s": 7.0, "f": 2}]
    best = None
    for run in runs:
        best = bench.fastest(best, run)
    assert best["chars_per_s"] == 7.0 and best["f"] == 2
    assert best["runs_chars_per_s"] == [5.0, None, 7.0]
    assert bench.fastest(None, {"error": "x"})["error"] == "x"


def test_warm_times_a_second_pass_over_the_same_records(saved, monkeypatch):  # noqa: F811
    """--warm: the row's seconds are those of the pass after a first, untimed one."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    bench = importlib.import_module("benchmark_speed")
    import zh_medner.evaluation.ner as ner

    passes = []

    def evaluate(nlp, gold, n_process=1):
        passes.append([d.text for d in gold])
        return {"seconds": float(len(passes)), "official": {"f": 1.0}, "flat": {"f": 1.0}}

    monkeypatch.setattr(ner, "evaluate_ner", evaluate)
    piped, load = [], bench._load

    def loaded(model, precision):  # records the texts of each nlp.pipe outside evaluate_ner
        nlp = load(model, precision)
        pipe = nlp.pipe
        nlp.pipe = lambda texts, **kwargs: pipe(piped.append(list(texts)) or piped[-1], **kwargs)
        return nlp

    monkeypatch.setattr(bench, "_load", loaded)
    gold = saved.parent / "gold.spacy"
    DocBin(docs=gold_docs(blank())).to_disk(gold)
    cold = bench.run_pipeline(str(saved), str(gold), 0, 1, "fp32", 1, False)
    assert len(passes) == 1 and cold["seconds"] == 1.0 and not piped
    warm = bench.run_pipeline(str(saved), str(gold), 0, 1, "fp32", 1, True)
    # the untimed pass reads the same records and is not scored; the timed pass is
    assert piped == [passes[1]] and len(passes) == 2 and warm["seconds"] == 2.0


def test_warm_components_are_timed_after_a_whole_pass(saved, monkeypatch):  # noqa: F811
    """--components --warm: the pipeline runs once over the records before the timed
    component passes, so the encoder's forward is timed without its first-pass costs."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    bench = importlib.import_module("benchmark_speed")
    gold = saved.parent / "gold_components.spacy"
    DocBin(docs=gold_docs(blank())).to_disk(gold)
    forwards = []
    timer = bench._time_encoder_forward

    def count(nlp):
        spent = timer(nlp)
        shim = bench._encoder_shim(nlp)
        inner = shim._forward
        shim._forward = lambda *a, **k: forwards.append(1) or inner(*a, **k)
        return spent

    monkeypatch.setattr(bench, "_time_encoder_forward", count)
    cold = bench.run_components(str(saved), str(gold), 0, 1, "fp32", False)
    n_cold = len(forwards)
    assert n_cold > 0 and cold["encoder_forward"] > 0
    calls = []
    real_load = bench._load

    def load(model, precision):
        nlp = real_load(model, precision)
        pipe = nlp.pipe
        nlp.pipe = lambda texts, **k: calls.append(1) or pipe(texts, **k)
        return nlp

    monkeypatch.setattr(bench, "_load", load)
    warm = bench.run_components(str(saved), str(gold), 0, 1, "fp32", True)
    assert calls == [1] and len(forwards) == 2 * n_cold  # the warm pass is not counted
    assert set(warm["components"]) == set(cold["components"])
