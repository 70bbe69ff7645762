"""zh_medner/evaluation/context.py and scripts/evaluate_context.py: the sets, the scorer, the
report.
"""

import json

import pytest
import srsly
import typer
from typer.testing import CliRunner

from zh_medner.evaluation.context import EvalDataError, read_eval_set, score_context
from zh_medner.evaluation.gold import rules_pipeline

from .conftest import ROOT, load_script

CHART = ROOT / "assets" / "negation_eval.jsonl"
SPEECH = ROOT / "assets" / "context_eval_speech.jsonl"
FHH = ROOT / "assets" / "context_eval_chart_fhh.jsonl"
RULES = ROOT / "zh_medner" / "resources" / "context_rules_zh.json"


@pytest.fixture(scope="module")
def ctx():
    return rules_pipeline(
        ROOT / "configs" / "assemble.cfg",
        {"paths.context_rules": str(RULES)},
        exclude=["entity_ruler"],
    )


def test_sets_have_the_promised_size_and_shape():
    chart, speech, fhh = (read_eval_set(p) for p in (CHART, SPEECH, FHH))
    assert len(chart) >= 300 and len(speech) >= 400 and len(fhh) >= 100
    for records in (chart, speech, fhh):
        assert len({r["id"] for r in records}) == len(records)
    assert {r["register"] for r in speech} == {"speech"}
    flags = {
        f
        for r in speech + fhh
        for e in r["entities"]
        for f in ("family", "historical", "hypothetical")
        if e[f]
    }
    assert flags == {"family", "historical", "hypothetical"}


@pytest.mark.parametrize("path,negated,uncertain", [(CHART, 0.97, 0.90), (SPEECH, 0.90, 0.80)])
def test_context_meets_its_targets(ctx, path, negated, uncertain):
    scores = score_context(ctx, read_eval_set(path), source=str(path))
    assert scores["negated"]["f"] >= negated, scores["errors"][:20]
    assert scores["uncertain"]["f"] >= uncertain, scores["errors"][:20]


def test_flags_are_scored_only_where_a_set_states_them(ctx):
    assert "family" not in score_context(ctx, read_eval_set(CHART)[:20])
    assert score_context(ctx, read_eval_set(FHH))["family"]["support"] > 0


def test_score_context_counts(ctx):
    records = [
        {
            "id": "a",
            "text": "无发热，咳嗽。",
            "case": "t",
            "entities": [
                {"start": 1, "end": 3, "label": "SYM", "status": "negated"},
                {"start": 4, "end": 6, "label": "SYM", "status": "negated"},
            ],
        },
        {
            "id": "b",
            "text": "考虑肺炎。",
            "case": "t",
            "entities": [
                {"start": 2, "end": 4, "label": "DIS", "status": "affirmed", "family": True},
            ],
        },
    ]
    scores = score_context(ctx, records)
    assert (scores["negated"]["tp"], scores["negated"]["fp"], scores["negated"]["fn"]) == (1, 0, 1)
    assert scores["negated"]["p"] == 1.0 and scores["negated"]["r"] == 0.5
    assert (scores["uncertain"]["tp"], scores["uncertain"]["fp"]) == (0, 1)
    assert (scores["family"]["tp"], scores["family"]["fn"]) == (0, 1)
    assert [(e["id"], e["entity"], e["gold"], e["predicted"]) for e in scores["errors"]] == [
        ("a", "咳嗽", "negated", "affirmed"),
        ("b", "肺炎", "family", "uncertain"),
    ]
    assert scores["by_case"]["t"] == {"entities": 3, "errors": 2}


GOOD = {
    "id": "x",
    "text": "无发热。",
    "case": "t",
    "entities": [{"start": 1, "end": 3, "label": "SYM", "status": "negated"}],
}


@pytest.mark.parametrize(
    "line,message",
    [
        ("{not json", "invalid JSON"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "case"}), "case"),
        (
            json.dumps(
                {**GOOD, "entities": [{"start": 1, "end": 9, "label": "SYM", "status": "negated"}]}
            ),
            "out of range",
        ),
        (
            json.dumps(
                {**GOOD, "entities": [{"start": 1, "end": 3, "label": "SYM", "status": "maybe"}]}
            ),
            "status",
        ),
        (
            json.dumps({**GOOD, "entities": [{**GOOD["entities"][0], "family": "yes"}]}),
            "'family' must be true or false",
        ),
    ],
    ids=["json", "key", "offsets", "status", "flag"],
)
def test_bad_eval_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n" + line + "\n", encoding="utf8")
    with pytest.raises(EvalDataError, match=message) as err:
        read_eval_set(path)
    assert f"{path}:2" in str(err.value)


def test_misaligned_span_names_the_line(ctx, tmp_path):
    path = tmp_path / "eval.jsonl"
    record = {
        "id": "x",
        "text": "无 发热。",
        "case": "t",
        "entities": [{"start": 1, "end": 4, "label": "SYM", "status": "negated"}],
    }
    path.write_text("\n" + json.dumps(record, ensure_ascii=False) + "\n", encoding="utf8")
    records = read_eval_set(path)
    with pytest.raises(EvalDataError, match=f"{path}:2.*does not align"):
        score_context(ctx, records, source=str(path))


def test_script_writes_metrics(tmp_path):
    app = typer.Typer()
    app.command()(load_script("evaluate_context").main)
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n", encoding="utf8")
    out = tmp_path / "m" / "context.json"
    args = [
        str(path),
        "--output",
        str(out),
        "--config",
        str(ROOT / "configs" / "assemble.cfg"),
        "--rules",
        str(RULES),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "negated" in result.output and "uncertain" in result.output
    assert srsly.read_json(out)[str(path)]["negated"]["f"] == 1.0

    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n{bad\n", encoding="utf8")
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert f"{path}:2" in result.output
