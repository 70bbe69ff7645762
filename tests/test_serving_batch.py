"""Batch annotation (zh_medner/serving/batch.py, resume.py, `zh-medner annotate`): one output
line per input line, resumable only against the same input and options, a bad record an error
line and never the end of the run, refusals before the pipeline loads, and the same output from
worker processes and from a Dask cluster."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import pytest
import spacy
from spacy.language import Language

from zh_medner.io import PathError
from zh_medner.serving import annotate_cli, cli
from zh_medner.serving.batch import annotate_file
from zh_medner.serving.resume import last_done_line, sidecar_path

from .conftest import ROOT
from .lock_holder import dead_holder_lock, lock_holder, read_only
from .serving_pipeline import GOLD, save_small_pipeline

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
    annotate_file(spacy.load(ruler_model), src, out)  # the run that wrote the sidecar
    out.write_text('{"id": "r1", "line": 1, "entities": []}\n{"id": "r2", "li', encoding="utf8")
    assert last_done_line(out) == 1
    annotate_file(spacy.load(ruler_model), src, out)
    assert [r["line"] for r in read_output(out)] == [1, 2, 3, 4]


def test_killed_run_resumes_without_loss_or_duplicates(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    n = 20000
    write_input(src, n, bad_lines={7, 15001})
    cmd = [sys.executable, "-m", "zh_medner.serving.cli", "annotate", str(ruler_model)]
    cmd += [str(src), str(out), "--batch-size", "256"]
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
    from zh_medner.serving.pipe import annotate_batch

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


# ---------------------------------------------------------------- helpers for the tests below


@Language.component("test_crash_on_boom")
def crash_on_boom(doc):
    """A component that fails on one kind of record, as a pipeline bug would."""
    if "BOOM" in doc.text:
        raise RuntimeError("cannot handle BOOM")
    return doc


def record_line(i, text=None):
    text = TEXTS[(i - 1) % len(TEXTS)] if text is None else text
    return json.dumps({"id": f"r{i}", "text": text}, ensure_ascii=False)


def run_cli(monkeypatch, capsys, *args, **kwargs):
    """`run_annotate` in this process; (exit code, what it printed). Loading the pipeline is
    refused, so a refusal that comes after the load fails the test."""

    def no_load(*a, **k):
        raise AssertionError("the pipeline was loaded before the refusal")

    monkeypatch.setattr(annotate_cli, "load_model", no_load)
    with pytest.raises(SystemExit) as exit_info:
        cli.run_annotate(*[str(a) for a in args], **kwargs)
    captured = capsys.readouterr()
    return exit_info.value.code, " ".join((captured.out + captured.err).split())


# ---------------------------------------------------------------- options and paths


def test_batch_size_must_be_at_least_one(ruler_model, tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 5)
    command = subprocess.run(
        [sys.executable, "-m", "zh_medner.serving.cli", "annotate", ruler_model, src, out]
        + ["--batch-size", "0"],
        capture_output=True,
        text=True,
    )
    assert command.returncode != 0 and "--batch-size" in command.stdout + command.stderr
    assert not out.exists()
    # the runner itself checks it first, before the model name
    code, said = run_cli(monkeypatch, capsys, "no_such_model", src, out, batch_size=0)
    assert code == 1 and "--batch-size must be 1 or more, got 0" in said
    with pytest.raises(ValueError, match="--batch-size"):
        annotate_file(spacy.load(ruler_model), src, out, batch_size=0)
    assert not out.exists()


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "sidecar", "under the input"])
def test_output_that_is_the_input_is_refused_before_writing(
    ruler_model, tmp_path, monkeypatch, capsys, how
):
    src = tmp_path / "in.jsonl"
    src.write_text(record_line(1) + "\n" + record_line(2), encoding="utf8")  # no final newline
    before = src.read_bytes()
    out = {
        "same path": src,
        "symlink": tmp_path / "link.jsonl",
        "hard link": tmp_path / "hard.jsonl",
        "sidecar": tmp_path / "in",  # its sidecar in.resume.json would be the input
        "under the input": src / "out.jsonl",
    }[how]
    if how == "symlink":
        out.symlink_to(src)
    elif how == "hard link":
        os.link(src, out)
    elif how == "sidecar":
        src = src.rename(sidecar_path(out))
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out)
    assert code == 1
    expected = "is a file, not a folder" if how == "under the input" else "is an input"
    assert expected in said
    assert src.read_bytes() == before
    assert not sidecar_path(out).exists() or how == "sidecar"


def test_missing_input_and_unwritable_output_are_reported_first(
    ruler_model, tmp_path, monkeypatch, capsys
):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out)
    assert code == 1 and f"{src}: no such file" in said
    write_input(src, 3)
    out.write_bytes(b"")
    with read_only(out):
        code, said = run_cli(monkeypatch, capsys, ruler_model, src, out)
    assert code == 1 and f"{out}: cannot write it" in said and "chmod u+w" in said
    out.unlink()
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder):
        code, said = run_cli(monkeypatch, capsys, ruler_model, src, folder / "out.jsonl")
    assert code == 1 and f"{folder}" in said and "ro/out.jsonl" in said
    assert "Traceback" not in said


def test_cli_refusals_name_the_file_without_a_traceback(ruler_model, tmp_path):
    """The same refusals through the installed command, in a subprocess."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "zh_medner.serving.cli", "annotate", ruler_model, src, out],
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSI_COLORS_DISABLED="1"),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{src}: no such file" in " ".join(result.stdout.split())  # wasabi wraps lines


def test_a_second_run_on_the_same_output_is_refused(ruler_model, tmp_path, monkeypatch, capsys):
    """One writer per output: while a run holds OUTPUT.lock, another is refused before it
    loads the model or touches OUTPUT, and is told the first run's PID."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 6)
    annotate_file(spacy.load(ruler_model), src, out)
    write_input(src, 8)
    before = out.read_bytes(), sidecar_path(out).read_bytes()
    with lock_holder(out) as first:
        code, said = run_cli(monkeypatch, capsys, ruler_model, src, out, restart=True)
        assert code == 1 and f"another run is writing it (process {first.pid}," in said
        with pytest.raises(PathError, match=f"process {first.pid}"):
            annotate_file(spacy.load(ruler_model), src, out, restart=True)
    assert (out.read_bytes(), sidecar_path(out).read_bytes()) == before
    dead_holder_lock(out)  # a run that died holding the lock does not block the next
    assert annotate_file(spacy.load(ruler_model), src, out, restart=True)["annotated"] == 8
    assert [r["line"] for r in read_output(out)] == list(range(1, 9))
    assert not (tmp_path / "out.jsonl.lock").exists()


# ---------------------------------------------------------------- resuming


def test_resume_refuses_a_changed_input_and_restart_starts_over(
    ruler_model, tmp_path, monkeypatch, capsys
):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 5)
    annotate_file(spacy.load(ruler_model), src, out)
    # a record inserted at the top: resuming would answer every line with its neighbour's output
    src.write_text(
        record_line(0, "新插入的记录：口服阿司匹林。") + "\n" + src.read_text(encoding="utf8"),
        encoding="utf8",
    )
    before = out.read_bytes()
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out)
    assert code == 1
    assert f"{out}: cannot resume: the input changed since it was started" in said
    assert "--restart" in said
    assert out.read_bytes() == before
    counts = annotate_file(spacy.load(ruler_model), src, out, restart=True)
    assert counts == {"skipped": 0, "annotated": 6, "errors": 0}
    rows = read_output(out)
    assert [r["line"] for r in rows] == list(range(1, 7)) and rows[0]["id"] == "r0"
    assert json.loads(sidecar_path(out).read_text())["input"]["bytes"] == src.stat().st_size


def test_resume_refuses_other_options_or_another_model_version(
    ruler_model, tmp_path, monkeypatch, capsys
):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 4)
    nlp = spacy.load(ruler_model)
    annotate_file(nlp, src, out)
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out, text_key="body")
    assert code == 1 and "--text-key was 'text', now 'body'" in said
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out, id_key="")
    assert code == 1 and "--id-key was 'id', now None" in said
    retrained = shutil.copytree(ruler_model, tmp_path / "retrained")
    meta = json.loads((retrained / "meta.json").read_text())
    (retrained / "meta.json").write_text(json.dumps({**meta, "version": "0.0.2"}))
    code, said = run_cli(monkeypatch, capsys, retrained, src, out)
    assert code == 1 and "the model was 'zh_pipeline-0.0.0 (sha256 " in said
    assert "now 'zh_pipeline-0.0.2 (sha256 " in said
    # the same input and options resume (nothing left to do)
    assert annotate_file(nlp, src, out)["skipped"] == 4


@pytest.mark.parametrize("change", ["another folder", "its rules changed"])
def test_resume_refuses_another_model_of_the_same_name_and_version(
    ruler_model, tmp_path, monkeypatch, capsys, change
):
    """The fingerprint is the model's content: name and version alone are the same for every
    assembled folder (zh_pipeline-0.0.0)."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 4)
    model = shutil.copytree(ruler_model, tmp_path / "model")
    annotate_file(spacy.load(model), src, out)
    if change == "another folder":
        other = spacy.blank("zh")
        other.add_pipe("entity_ruler").add_patterns([{"label": "DRU", "pattern": "复查"}])
        other.to_disk(tmp_path / "other")
        model = tmp_path / "other"
    else:
        patterns = model / "entity_ruler" / "patterns.jsonl"
        patterns.write_text(
            patterns.read_text(encoding="utf8") + '{"label":"ITE","pattern":"血常规"}\n',
            encoding="utf8",
        )
    meta = json.loads((model / "meta.json").read_text())
    assert (meta["lang"], meta["name"], meta["version"]) == ("zh", "pipeline", "0.0.0")
    before = out.read_bytes()
    code, said = run_cli(monkeypatch, capsys, model, src, out)
    assert code == 1 and "cannot resume: the model was 'zh_pipeline-0.0.0 (sha256" in said
    with pytest.raises(PathError, match="cannot resume: the model was"):
        annotate_file(spacy.load(model), src, out)
    assert out.read_bytes() == before


def test_output_that_was_not_written_by_the_command_is_not_resumed(
    ruler_model, tmp_path, monkeypatch, capsys
):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(src, 3)
    out.write_text('{"line": 1, "entities": []}\n', encoding="utf8")  # no sidecar
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out)
    assert code == 1 and "has no out.jsonl.resume.json beside it" in said and "--restart" in said
    # a foreign last line after a run of this command: refused with file and line
    out.unlink()
    annotate_file(spacy.load(ruler_model), src, out)
    with out.open("a", encoding="utf8") as f:
        f.write('{"note": "appended by another tool"}\n')
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out)
    assert code == 1 and f"{out}:4: not an output line of `zh-medner annotate`" in said
    sidecar_path(out).write_text("{not json", encoding="utf8")
    code, said = run_cli(monkeypatch, capsys, ruler_model, src, out)
    assert code == 1 and "out.jsonl.resume.json: cannot be read" in said


def test_resume_reads_only_the_end_of_a_large_output(tmp_path):
    out = tmp_path / "out.jsonl"
    line = '{"id": "r", "line": %d, "entities": [{"start": 0, "end": 4, "label": "DRU"}]}\n'
    with out.open("w", encoding="utf8") as f:
        for i in range(1, 300_001):
            f.write(line % i)
        f.write('{"id": "r", "line": 300001, "entit')  # torn by a kill
    assert out.stat().st_size > 20_000_000
    tracemalloc.start()
    try:
        done = last_done_line(out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done == 300_000
    assert peak < 1_000_000
    assert out.read_bytes().endswith(b"entit")  # reading decides nothing: the run truncates


def test_blank_lines_get_an_error_line_and_resume_accounts_for_them(ruler_model, tmp_path):
    src, out, whole = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "whole.jsonl"
    lines = [record_line(1), "", record_line(3), "  ", record_line(5), ""]
    src.write_text("\n".join(lines) + "\n", encoding="utf8")
    nlp = spacy.load(ruler_model)
    counts = annotate_file(nlp, src, whole, batch_size=1)
    rows = read_output(whole)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert counts == {"skipped": 0, "annotated": 3, "errors": 3}
    assert rows[1] == {"line": 2, "error": "blank line: JSON Lines holds one record a line"}
    # killed after the blank line 4: the resumed run writes exactly what was missing
    shutil.copy(sidecar_path(whole), sidecar_path(out))
    out.write_text("\n".join(whole.read_text(encoding="utf8").splitlines()[:4]) + "\n")
    assert annotate_file(nlp, src, out)["skipped"] == 4
    assert out.read_bytes() == whole.read_bytes()


# ---------------------------------------------------------------- one bad record, never the run


def test_undecodable_line_becomes_an_error_line_and_the_run_goes_on(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    gbk = json.dumps({"id": "g", "text": "患者口服阿司匹林"}, ensure_ascii=False).encode("gbk")
    src.write_bytes(
        b"\n".join([record_line(1).encode(), gbk, record_line(2).encode(), gbk[:-2]]) + b"\n"
    )
    errors = []
    counts = annotate_file(
        spacy.load(ruler_model), src, out, on_error=lambda n, e: errors.append((n, e))
    )
    rows = read_output(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert counts == {"skipped": 0, "annotated": 2, "errors": 2}
    assert [n for n, _ in errors] == [2, 4]
    assert "not valid UTF-8 (byte 0xbb" in rows[1]["error"] and "iconv -f GBK" in rows[1]["error"]
    assert rows[2]["entities"][0]["text"] == "布洛芬混悬液"
    # the whole file in GBK reads with --encoding gbk
    gbk_src = tmp_path / "gbk.jsonl"
    gbk_src.write_bytes(gbk + b"\n")
    annotate_file(spacy.load(ruler_model), gbk_src, tmp_path / "gbk.out", encoding="gbk")
    (row,) = read_output(tmp_path / "gbk.out")
    assert row["entities"][0]["text"] == "阿司匹林"


def test_bom_crlf_and_raw_carriage_returns(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    raw_cr = '{"id": "cr", "text": "胃痛\r口服阿司匹林"}'  # a raw CR inside the string
    data = "\ufeff" + record_line(1) + "\r\n" + raw_cr + "\n" + record_line(4) + "\r" + "[1]\n"
    src.write_bytes(data.encode("utf8"))
    annotate_file(spacy.load(ruler_model), src, out)
    rows = read_output(out)
    # line 1 (BOM dropped), line 2-3 one record (the raw CR), line 4, and line 5 after a lone CR
    assert [r["line"] for r in rows] == [1, 2, 4, 5]
    assert rows[0]["id"] == "r1" and "error" not in rows[0]
    assert rows[1]["id"] == "cr"
    assert rows[1]["entities"] == [
        {"start": 5, "end": 9, "label": "DRU", "text": "阿司匹林", "id": "阿司匹林"}
    ]
    assert rows[2]["id"] == "r4" and rows[3]["error"] == "a record must be a JSON object"


def test_lone_surrogates(ruler_model, tmp_path):
    """spaCy's own tokenizer raises on a lone surrogate: that record is an error line. The
    pipeline's tokenizer replaces it keeping offsets, and the output escapes it in an id."""
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            [
                record_line(1),
                '{"id": "s\\ud800", "text": "\\ud800口服阿司匹林"}',
                record_line(2),
            ]
        )
        + "\n",
        encoding="utf8",
    )
    out = tmp_path / "spacy.jsonl"
    counts = annotate_file(spacy.load(ruler_model), src, out, batch_size=8)
    rows = read_output(out)
    assert counts == {"skipped": 0, "annotated": 2, "errors": 1}
    assert "the pipeline failed on this record (UnicodeEncodeError" in rows[1]["error"]
    assert rows[2]["entities"][0]["text"] == "布洛芬混悬液"
    safe = spacy.blank(
        "zh", config={"nlp": {"tokenizer": {"@tokenizers": "zh_medner.char_tokenizer.v1"}}}
    )
    safe.add_pipe("entity_ruler").add_patterns([{"label": "DRU", "pattern": "阿司匹林"}])
    out = tmp_path / "safe.jsonl"
    assert annotate_file(safe, src, out)["errors"] == 0
    assert "\\ud800" in out.read_text(encoding="utf8")
    row = read_output(out)[1]
    assert row["id"] == "s\ud800" and row["entities"][0]["start"] == 3


def test_text_over_max_length_is_an_error_line(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "\n".join([record_line(1), record_line(2, "阿司匹林" * 20), record_line(3)]) + "\n",
        encoding="utf8",
    )
    nlp = spacy.load(ruler_model)
    nlp.max_length = 50
    annotate_file(nlp, src, out)
    rows = read_output(out)
    assert "text of 80 characters, over the pipeline's max_length of 50" in rows[1]["error"]
    assert [("error" in r) for r in rows] == [False, True, False]


def test_a_number_over_pythons_digit_limit_is_an_error_line(ruler_model, tmp_path):
    """json.loads raises a plain ValueError for an integer over 4,300 digits: an error line for
    that record, and every rerun goes past it."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    huge = '{"id": ' + "9" * 5000 + ', "text": "复查血常规。"}'
    src.write_text("\n".join([record_line(1), huge, record_line(3)]) + "\n", encoding="utf8")
    counts = annotate_file(spacy.load(ruler_model), src, out)
    rows = read_output(out)
    assert counts == {"skipped": 0, "annotated": 2, "errors": 1}
    assert rows[1]["line"] == 2 and "more than 4300 digits" in rows[1]["error"]
    result = subprocess.run(
        [sys.executable, "-m", "zh_medner.serving.cli", "annotate", ruler_model, src, out],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr


def test_a_record_that_crashes_the_pipeline_costs_only_that_record(ruler_model, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    boom = {3, 10}
    lines = [record_line(i, "BOOM" if i in boom else None) for i in range(1, 12)]
    lines[5] = "{broken"
    src.write_text("\n".join(lines) + "\n", encoding="utf8")
    nlp = spacy.load(ruler_model)
    nlp.add_pipe("test_crash_on_boom")
    errors = []
    counts = annotate_file(nlp, src, out, batch_size=4, on_error=lambda n, e: errors.append((n, e)))
    rows = read_output(out)
    assert [r["line"] for r in rows] == list(range(1, 12))
    assert [n for n, _ in errors] == [3, 6, 10]
    assert "RuntimeError: cannot handle BOOM" in rows[2]["error"]
    assert counts == {"skipped": 0, "annotated": 8, "errors": 3}
    clean = spacy.load(ruler_model)
    for row, line in zip(rows, lines):
        if "error" not in row:
            doc = clean(json.loads(line)["text"])
            assert [e["text"] for e in row["entities"]] == [e.text for e in doc.ents]


# ---------------------------------------------------------------- worker processes and Dask

N_PROCESS_SCRIPT = """
import sys
from pathlib import Path

from zh_medner.serving.batch import annotate_file
from zh_medner.serving.pipe import use_processes

use_processes()  # the supported way: before any torch work

import spacy
import torch
from spacy.language import Language


@Language.component("test_crash_on_boom")
def crash_on_boom(doc):
    if "BOOM" in doc.text:
        raise RuntimeError("cannot handle BOOM")
    return doc


# loading a transformer runs parallel torch ops like this one; with torch's default threads
# the forked workers of nlp.pipe(n_process=2) then wait forever
x = torch.randn(1500, 1500)
float((x @ x).sum())
model, src, one, two = sys.argv[1:]
nlp = spacy.load(model)
nlp.add_pipe("test_crash_on_boom")
annotate_file(nlp, Path(src), Path(one), batch_size=4)
annotate_file(nlp, Path(src), Path(two), batch_size=4, n_process=2)
"""


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    return save_small_pipeline(tmp_path_factory.mktemp("pipeline") / "medner_test")


def gold_input(path, n=40, boom=()):
    texts = [text for text, _ in GOLD] + ["口服拜阿司匹灵后胃痛。"]
    lines = [record_line(i, "BOOM" if i in boom else texts[i % len(texts)]) for i in range(1, n)]
    path.write_text("\n".join(lines[:5] + ["{broken", ""] + lines[5:]) + "\n", encoding="utf8")


def test_n_process_2_finishes_and_matches_one_process(small_model, tmp_path):
    src, one, two = tmp_path / "in.jsonl", tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    gold_input(src, boom={9, 30})
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(N_PROCESS_SCRIPT), encoding="utf8")
    result = subprocess.run(
        [sys.executable, script, small_model, src, one, two],
        capture_output=True,
        text=True,
        timeout=300,  # a deadlock fails here
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert one.read_bytes() == two.read_bytes()
    rows = read_output(two)
    assert sum("error" in r for r in rows) == 4  # two BOOMs, {broken and the blank line
    assert any(e.get("negated") for r in rows for e in r.get("entities", []))


def test_annotate_processes_option_gives_the_same_output(small_model, tmp_path):
    src = tmp_path / "in.jsonl"
    gold_input(src, n=30)
    outputs = []
    for processes in ("1", "2"):
        out = tmp_path / f"out{processes}.jsonl"
        result = subprocess.run(
            [sys.executable, "-m", "zh_medner.serving.cli", "annotate", small_model, src, out]
            + ["--processes", processes, "--batch-size", "4"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    result = subprocess.run(
        [sys.executable, "-m", "zh_medner.serving.cli", "annotate", small_model, src]
        + [tmp_path / "x.jsonl", "--processes", "2", "--threads", "4"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "each process runs one torch thread" in result.stdout


def test_dask_local_cluster_annotates_like_the_command(small_model, tmp_path):
    """annotate_batch in a cluster's workers (the README's advice), on a
    `distributed.LocalCluster` of two worker processes."""
    distributed = pytest.importorskip("distributed", reason="pip install 'dask[distributed]'")
    dask_bag = pytest.importorskip("dask.bag", reason="dask is a dev dependency")
    src, out = tmp_path / "notes.jsonl", tmp_path / "out.jsonl"
    texts = [text for text, _ in GOLD] + ["口服拜阿司匹灵后胃痛。"]
    src.write_text(
        "".join(record_line(i, texts[i % len(texts)]) + "\n" for i in range(1, 31)),
        encoding="utf8",
    )
    annotate_file(spacy.load(small_model), src, out)
    expected = [{"id": r["id"], "entities": r["entities"]} for r in read_output(out)]

    def annotate_partition(records, model):
        from zh_medner.serving.pipe import annotate_batch

        records = list(records)
        ents = annotate_batch([r["text"] for r in records], model)
        return [{**r, "entities": e} for r, e in zip(records, ents)]

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        bag = dask_bag.read_text(str(src), blocksize=400).map(json.loads)
        assert bag.npartitions >= 4
        got = bag.map_partitions(annotate_partition, model=str(small_model)).compute()

        def loaded():
            from zh_medner.serving.pipe import _PIPELINES

            return sorted(_PIPELINES)

        by_worker = client.run(loaded)
    assert [{"id": r["id"], "entities": r["entities"]} for r in got] == expected
    assert len(by_worker) == 2 and all(m == [str(small_model)] for m in by_worker.values())
