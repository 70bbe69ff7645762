"""Label Studio pre-annotation (zh_medner/serving/preannotate.py): the confidence, the task
order, the import format, reading the input and the labelling config."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy

from zh_medner.components.span_head import SCORES_KEY
from zh_medner.serving.preannotate import (
    InputError,
    confidences,
    pre_annotate,
    predict_items,
    read_records,
    span_head,
    write_tasks,
)
from zh_medner.serving.schema import LabelConfig, parse_label_config

from .conftest import ROOT
from .serving_pipeline import GOLD, save_small_pipeline, small_pipeline

TEXTS = [text for text, _ in GOLD] + ["口服拜阿司匹灵后胃痛。", "患者慢性肺炎伴咳嗽两周。"]


@pytest.fixture(scope="module")
def nlp():
    return small_pipeline()


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_scores_are_the_least_certain_decision_and_each_kept_spans_probability(nlp):
    docs = list(nlp.pipe(TEXTS))
    head = span_head(nlp)
    logits = head.predict(docs)
    for i, (doc, (scores, probs)) in enumerate(zip(docs, confidences(head, docs))):
        score = scores["least_confident"]
        # brute force over every cell that is a span inside the doc
        margins = [
            abs(float(logits[i][t, s, d]))
            for t in range(len(head.labels))
            for s in range(len(doc))
            for d in range(head.max_length)
            if s + d < len(doc)
        ]
        assert score == pytest.approx(sigmoid(min(margins)), abs=1e-6)
        assert 0.5 <= score <= 1.0
        kept = {(s.start_char, s.end_char, s.label_) for s in doc.spans["sc"]}
        assert set(probs) == kept
        assert all(0.5 < p <= 1.0 for p in probs.values())


def test_a_close_call_lowers_the_score_whether_kept_or_rejected(nlp):
    head = span_head(nlp)
    docs = [nlp(TEXTS[0])]
    logits = numpy.stack(head.predict(docs))
    for value in (0.1, -0.1):  # a span kept at p=0.525, or rejected at p=0.475
        changed = logits.copy()
        changed[0, 0, 0, 0] = value
        head.predict = lambda docs, changed=changed: changed
        try:
            score = confidences(head, docs)[0][0]["least_confident"]
        finally:
            del head.predict
        assert score == pytest.approx(sigmoid(0.1))


def test_tasks_are_ordered_least_confident_first_and_ties_keep_input_order(nlp):
    records = [{"text": t, "n": i} for i, t in enumerate(TEXTS + [TEXTS[0]])]
    tasks = pre_annotate(nlp, records)
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores)
    assert sorted(t["data"]["n"] for t in tasks) == list(range(len(records)))
    by_text = {}
    for t in tasks:
        by_text.setdefault(t["data"]["text"], []).append(t["data"]["n"])
    assert by_text[TEXTS[0]] == [0, len(TEXTS)]  # the same text twice, in input order
    # each task's score is its own text's confidence
    head = span_head(nlp)
    for t in tasks:
        expected = confidences(head, [nlp(t["data"]["text"])])[0][0]["least_confident"]
        assert t["predictions"][0]["score"] == pytest.approx(expected, abs=1e-4)


def test_import_format_nested_spans_and_dictionary_drugs(nlp):
    config = LabelConfig(from_name="ner", to_name="doc", value_key="text")
    tasks = pre_annotate(nlp, [{"text": TEXTS[1]}, {"text": TEXTS[4]}], config=config)
    by_text = {t["data"]["text"]: t for t in tasks}
    pred = by_text[TEXTS[1]]["predictions"][0]
    assert pred["model_version"] == "zh_medner_test-0.0.1"
    assert [
        (r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in pred["result"]
    ] == [
        (2, 6, ["DIS"]),
        (4, 6, ["DIS"]),  # nested
        (7, 9, ["SYM"]),
    ]
    for r in pred["result"]:
        assert set(r) == {"from_name", "to_name", "type", "value", "score"}
        assert (r["from_name"], r["to_name"], r["type"]) == ("ner", "doc", "labels")
        assert TEXTS[1][r["value"]["start"] : r["value"]["end"]] == r["value"]["text"]
    drug = by_text[TEXTS[4]]["predictions"][0]["result"]
    assert [(r["value"]["text"], r["value"]["labels"]) for r in drug] == [
        ("拜阿司匹灵", ["DRU"]),
        ("胃痛", ["SYM"]),
    ]
    assert "score" not in drug[0]  # the dictionary has no logit


def test_a_pipeline_without_span_head_keeps_the_input_order():
    nlp = spacy.blank("zh")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "DRU", "pattern": "阿司匹林"}])
    tasks = pre_annotate(nlp, [{"text": "b 阿司匹林"}, {"text": "a"}])
    assert [t["data"]["text"] for t in tasks] == ["b 阿司匹林", "a"]
    assert "score" not in tasks[0]["predictions"][0]
    assert tasks[0]["predictions"][0]["result"][0]["value"]["text"] == "阿司匹林"


def test_config_labels_filter_the_regions(nlp):
    config = LabelConfig(labels=("SYM",))
    tasks = pre_annotate(nlp, [{"text": TEXTS[1]}], config=config)
    assert [r["value"]["labels"] for r in tasks[0]["predictions"][0]["result"]] == [["SYM"]]


def test_read_records_txt_and_jsonl(tmp_path):
    txt = tmp_path / "in.txt"
    txt.write_text("第一行\n\n  \n第二行\r\n", encoding="utf8")
    assert read_records(txt) == [{"text": "第一行"}, {"text": "第二行"}]
    assert read_records(txt, "content") == [{"content": "第一行"}, {"content": "第二行"}]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"id": 1, "body": "a"}\n\n{"id": 2, "body": "b"}\n', encoding="utf8")
    assert read_records(jsonl, "body") == [{"id": 1, "body": "a"}, {"id": 2, "body": "b"}]


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("in.jsonl", '{"text": "a"}\n{"text": \n', r"in.jsonl:2: invalid JSON"),
        ("in.jsonl", '{"text": "a"}\n["a"]\n', r"in.jsonl:2: a record must be a JSON object"),
        ("in.jsonl", '{"body": "a"}\n', r"in.jsonl:1: missing or non-string 'text'.*--text-key"),
        ("in.csv", "a\n", r"INPUT must be a .txt"),
        ("in.txt", "\n\n", r"no text in the file"),
    ],
)
def test_read_records_errors_name_file_line_and_fix(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf8")
    with pytest.raises(InputError, match=message):
        read_records(path)


def test_read_records_drops_a_bom_and_names_the_line_of_bad_bytes(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeff复查血常规。\n".encode() + "无发热。\n".encode("gbk"))
    with pytest.raises(InputError, match=r"in.txt:2: not valid UTF-8.*iconv -f GBK"):
        read_records(path)
    path.write_bytes("\ufeff复查血常规。\n".encode())
    assert read_records(path) == [{"text": "复查血常规。"}]


def test_write_tasks_is_readable_json_with_chinese_as_is(tmp_path, nlp):
    tasks = pre_annotate(nlp, [{"text": TEXTS[3]}])
    out = tmp_path / "sub" / "tasks.json"
    write_tasks(out, tasks)
    assert json.loads(out.read_text(encoding="utf8")) == tasks
    assert "血常规" in out.read_text(encoding="utf8")
    assert [p.name for p in out.parent.iterdir()] == ["tasks.json"]  # no temporary left


def test_parse_label_config():
    config = parse_label_config(
        '<View><Header value="x"/><Labels name="ner" toName="doc">'
        '<Label value="DIS" background="red"/><Label value="SYM"/></Labels>'
        '<Text name="doc" value="$content"/></View>'
    )
    assert config == LabelConfig("ner", "doc", "content", ("DIS", "SYM"))
    with pytest.raises(ValueError, match="no <Labels"):
        parse_label_config('<View><Labels name="l" toName="img"/><Image name="img"/></View>')
    with pytest.raises(ValueError, match="not valid XML"):
        parse_label_config("<View>")


LABEL_STUDIO = Path(os.environ.get("LABEL_STUDIO_BIN", "/tmp/ls-venv/bin/label-studio"))


@pytest.mark.slow
def test_the_pre_annotated_file_imports_into_a_real_label_studio(nlp, tmp_path):
    """scripts/check_label_studio.py: import, predictions as written, and the ML backend."""
    if not LABEL_STUDIO.is_file():
        pytest.skip(
            f"{LABEL_STUDIO} is absent: python3 -m venv /tmp/ls-venv && "
            "/tmp/ls-venv/bin/pip install label-studio (or set LABEL_STUDIO_BIN)"
        )
    tasks = tmp_path / "tasks.json"
    write_tasks(tasks, pre_annotate(nlp, [{"text": t} for t in TEXTS]))
    model = save_small_pipeline(tmp_path / "medner_test")
    out = tmp_path / "check.json"
    result = subprocess.run(
        [sys.executable, ROOT / "scripts" / "check_label_studio.py", tasks]
        + ["--label-studio", LABEL_STUDIO, "--ml-backend", model, "--output", out],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    checks = json.loads(out.read_text(encoding="utf8"))
    assert checks["imported_tasks"] == checks["imported_predictions"] == len(TEXTS)
    assert checks["predictions_as_written_in_order"] is True
    assert checks["ml_backend_state"] == "Connected"
    assert checks["ml_backend_matches_pre_annotation"] is True


@pytest.mark.parametrize("strategy", ["least_confident", "expected_errors", "random"])
def test_select_writes_the_n_tasks_the_strategy_labels_first(nlp, strategy):
    records = [{"text": t, "n": i} for i, t in enumerate(TEXTS)]
    every = pre_annotate(nlp, records, strategy=strategy)
    assert sorted(t["data"]["n"] for t in every) == list(range(len(TEXTS)))  # each once
    chosen = pre_annotate(nlp, records, strategy=strategy, select=2)
    assert [t["data"]["n"] for t in chosen] == [t["data"]["n"] for t in every[:2]]
    if strategy == "expected_errors":
        head = span_head(nlp)
        errors = {
            t["data"]["n"]: confidences(head, [nlp(t["data"]["text"])])[0][0][strategy]
            for t in every
        }
        ordered = [errors[t["data"]["n"]] for t in every]
        assert ordered == sorted(ordered, reverse=True)


def test_pre_annotation_reads_the_heads_own_scores_instead_of_predicting_again(nlp, monkeypatch):
    head = span_head(nlp)
    expected = [(s, p) for s, p in confidences(head, list(nlp.pipe(TEXTS)))]
    calls = []
    predict = type(head).predict

    def counting(self, docs):
        docs = list(docs)
        calls.append(len(docs))
        return predict(self, docs)

    monkeypatch.setattr(type(head), "predict", counting)
    got = [(s, p) for _, s, p, _ in predict_items(nlp, TEXTS, batch_size=2)]
    assert sum(calls) == len(TEXTS)  # once, inside the pipeline
    for (scores, probs), (want_scores, want_probs) in zip(got, expected, strict=True):
        assert scores == pytest.approx(want_scores, abs=1e-6)  # batches of 2 against one
        assert probs == pytest.approx(want_probs, abs=1e-6)
    assert head.keep_scores is False  # restored for the pipeline's other callers


def test_the_heads_setting_is_restored_however_the_runs_end(nlp):
    head = span_head(nlp)
    first, second = predict_items(nlp, TEXTS), predict_items(nlp, TEXTS)
    doc = next(first)[0]
    assert SCORES_KEY not in doc.user_data  # read and dropped, not left on what is returned
    next(second)
    first.close()  # closed early, before the other run ends
    assert head.keep_scores is True  # the other run still needs it
    list(second)
    assert head.keep_scores is False
    assert SCORES_KEY not in nlp(TEXTS[0]).user_data
