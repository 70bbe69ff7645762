"""Batch annotation: resumable, one output line per input record, malformed lines reported."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import spacy

from zh_medner.serving.batch import annotate_file, last_done_line

from .conftest import ROOT

TEXTS = ["患者口服阿司匹林后胃痛。", "无发热，予布洛芬混悬液。", "复查血常规。"]


@pytest.fixture(scope="module")
def ruler_model(tmp_path_factory):
    """A small pipeline (a drug ruler) so the runner is tested without a trained model."""
    nlp = spacy.blank("zh")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": "DRU", "pattern": p, "id": p[:4]} for p in ("阿司匹林", "布洛芬混悬液")]
    )
    path = tmp_path_factory.mktemp("model") / "ruler"
    nlp.to_disk(path)
    return path


def write_input(path, n, bad_lines=()):
    with path.open("w", encoding="utf8") as f:
        for i in range(1, n + 1):
            if i in bad_lines:
                f.write('{"id": "broken", "text": \n')
            else:
                f.write(
                    json.dumps(
                        {"id": f"r{i}", "text": TEXTS[(i - 1) % len(TEXTS)]}, ensure_ascii=False
                    )
                    + "\n"
                )


def read_output(path):
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def test_entities_ids_and_malformed_line_reported(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 5, bad_lines={3})
    errors = []
    counts = annotate_file(
        spacy.load(ruler_model),
        src,
        out,
        batch_size=2,
        on_error=lambda line, e: errors.append((line, e)),
    )
    rows = read_output(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[2] == {"line": 3, "error": rows[2]["error"]} and "invalid JSON" in rows[2]["error"]
    assert errors and errors[0][0] == 3
    assert counts == {"skipped": 0, "annotated": 4, "errors": 1}
    assert rows[0]["id"] == "r1"
    assert rows[0]["entities"] == [
        {"start": 4, "end": 8, "label": "DRU", "text": "阿司匹林", "id": "阿司匹林"}
    ]


def test_torn_last_line_is_redone(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 4)
    out.write_text('{"id": "r1", "line": 1, "entities": []}\n{"id": "r2", "li', encoding="utf8")
    assert last_done_line(out) == 1
    annotate_file(spacy.load(ruler_model), src, out)
    assert [r["line"] for r in read_output(out)] == [1, 2, 3, 4]


def test_killed_run_resumes_without_loss_or_duplicates(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    n = 20000
    write_input(src, n, bad_lines={7, 15001})
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "annotate.py"),
        str(src),
        str(out),
        "--model",
        str(ruler_model),
        "--batch-size",
        "256",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 20000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = out.read_text(encoding="utf8").count("\n")
    assert 0 < partial < n, "the run should have been killed midway"
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{src}:15001: invalid JSON" in result.stderr
    rows = read_output(out)
    assert [r["line"] for r in rows] == list(range(1, n + 1))
    assert sum("error" in r for r in rows) == 2


def test_same_function_inside_a_data_engine(ruler_model):
    """A Dask bag over two worker processes gives what the file runner gives."""
    dask_bag = pytest.importorskip("dask.bag", reason="dask is a dev dependency")
    from zh_medner.serving.batch import annotate_batch

    records = [{"id": i, "text": TEXTS[i % len(TEXTS)]} for i in range(12)]

    def annotate_partition(part, model):
        part = list(part)
        ents = annotate_batch([r["text"] for r in part], model)
        return [{"id": r["id"], "entities": e} for r, e in zip(part, ents)]

    bag = dask_bag.from_sequence(records, npartitions=3)
    out = bag.map_partitions(annotate_partition, model=str(ruler_model)).compute(
        scheduler="processes", num_workers=2
    )
    assert [r["id"] for r in out] == list(range(12))
    local = annotate_batch([r["text"] for r in records], str(ruler_model))
    assert [r["entities"] for r in out] == local
    assert out[0]["entities"][0]["text"] == "阿司匹林"
