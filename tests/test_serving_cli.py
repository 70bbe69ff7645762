"""The `zh-medner` command (zh_medner/serving/cli.py) as a user runs it: serve, pre-annotate and
annotate, each in a subprocess; arguments are checked before the pipeline loads."""

import contextlib
import json
import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import spacy

from zh_medner.serving import cli

from .browser import running_server, zh_medner_command
from .lock_holder import lock_holder, read_only
from .serving_pipeline import GOLD, save_small_pipeline

TEXTS = [text for text, _ in GOLD] + ["口服拜阿司匹灵后胃痛。"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_small_pipeline(tmp_path_factory.mktemp("pipeline") / "medner_test")


def zh_medner(*args, timeout=300):
    return subprocess.run(
        zh_medner_command() + [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, ANSI_COLORS_DISABLED="1"),
    )


def said(result) -> str:
    """What the command printed, with wasabi's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def test_help_lists_the_subcommands():
    result = zh_medner("--help")
    assert result.returncode == 0
    for name in ("serve", "pre-annotate", "annotate"):
        assert name in result.stdout


def test_pre_annotate_writes_a_label_studio_import_least_confident_first(model, tmp_path):
    src = tmp_path / "texts.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf8")
    out = tmp_path / "tasks.json"
    result = zh_medner("pre-annotate", model, src, out, "--from-name", "ner", "--to-name", "doc")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(TEXTS)} tasks" in said(result)
    tasks = json.loads(out.read_text(encoding="utf8"))
    assert sorted(t["data"]["text"] for t in tasks) == sorted(TEXTS)
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores)
    items = [r for t in tasks for r in t["predictions"][0]["result"]]
    assert items and all((r["from_name"], r["to_name"]) == ("ner", "doc") for r in items)


@pytest.mark.parametrize(
    "args,message",
    [
        (["no_such_model", "in.jsonl", "out.json"], "no_such_model: no pipeline folder"),
        (["{model}", "in.jsonl", "out.txt"], "OUTPUT must be a .json file"),
        (["{model}", "bad.jsonl", "out.json"], "bad.jsonl:2: invalid JSON"),
        (["{model}", "missing.txt", "out.json"], "missing.txt: no such file"),
        (["{tmp}", "in.jsonl", "out.json"], "not a pipeline folder"),
    ],
)
def test_pre_annotate_checks_its_arguments_first(model, tmp_path, args, message):
    (tmp_path / "in.jsonl").write_text('{"text": "复查血常规。"}\n', encoding="utf8")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": \n', encoding="utf8")
    args = [a.format(model=model, tmp=tmp_path) for a in args]
    args = [a if a.startswith("/") or a == "no_such_model" else tmp_path / a for a in args]
    start = time.monotonic()
    result = zh_medner("pre-annotate", *args)
    assert result.returncode == 1
    assert message in said(result)
    assert not (tmp_path / "out.json").exists()
    assert time.monotonic() - start < 60


def pre_annotate_in_process(monkeypatch, *args):
    """`zh-medner pre-annotate ARGS` in this process, the pipeline load refused: (exit code,
    what it printed). A refusal that comes after the load fails the test."""
    from typer.testing import CliRunner

    def no_load(*a, **k):
        raise AssertionError("the pipeline was loaded before the refusal")

    monkeypatch.setattr(cli, "load_model", no_load)
    result = CliRunner().invoke(cli.app, ["pre-annotate", *[str(a) for a in args]])
    assert not isinstance(result.exception, AssertionError), result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("where", ["a folder", "under a file", "a read-only folder"])
def test_pre_annotate_refuses_an_output_it_cannot_write_before_loading(
    model, tmp_path, monkeypatch, where
):
    """OUTPUT is checked before the model loads; a folder in its place is never moved aside."""
    src = tmp_path / "in.txt"
    src.write_text("复查血常规。\n", encoding="utf8")
    folder = tmp_path / "out"
    folder.mkdir()
    out = {"a folder": folder, "under a file": src / "tasks.json"}.get(where, folder / "t.json")
    if where == "a folder":
        out = folder / "tasks.json"
        out.mkdir()
        (out / "mine.txt").write_text("keep", encoding="utf8")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with read_only(folder) if where == "a read-only folder" else contextlib.nullcontext():
        code, said = pre_annotate_in_process(monkeypatch, model, src, out)
    assert code == 1 and str(out) in said
    message = {
        "a folder": "is a folder",
        "under a file": "is a file, not a folder",
        "a read-only folder": "permission denied",
    }[where]
    assert message in said
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_pre_annotate_refuses_an_output_another_run_is_writing(model, tmp_path, monkeypatch):
    src, out = tmp_path / "in.txt", tmp_path / "tasks.json"
    src.write_text("复查血常规。\n", encoding="utf8")
    out.write_text("[]\n", encoding="utf8")
    with lock_holder(out) as first:
        code, said = pre_annotate_in_process(monkeypatch, model, src, out)
    assert code == 1 and f"another run is writing it (process {first.pid}," in said
    assert out.read_text(encoding="utf8") == "[]\n"


def test_pre_annotate_keeps_a_lone_surrogate_and_a_record_the_pipeline_fails_on(model, tmp_path):
    """A lone surrogate (a JSON escape) is written back exactly; a text the pipeline fails on
    costs only its own predictions, and the run writes every task."""
    safe = spacy.blank(
        "zh", config={"nlp": {"tokenizer": {"@tokenizers": "zh_medner.char_tokenizer.v1"}}}
    )
    safe.add_pipe("entity_ruler").add_patterns([{"label": "DRU", "pattern": "阿司匹林"}])
    safe.to_disk(tmp_path / "safe")
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "\\ud800口服阿司匹林"}\n{"text": "复查血常规。"}\n', encoding="utf8")
    for name, pipeline in (("safe", tmp_path / "safe"), ("small", model)):
        out = tmp_path / f"{name}.json"
        result = zh_medner("pre-annotate", pipeline, src, out)
        assert result.returncode == 0 and "Traceback" not in result.stderr, said(result)
        tasks = json.loads(out.read_text(encoding="utf8"))
        texts = [t["data"]["text"] for t in tasks]
        assert sorted(texts) == sorted(["\ud800口服阿司匹林", "复查血常规。"])
        if name == "safe":
            drug = tasks[texts.index("\ud800口服阿司匹林")]["predictions"][0]["result"][0]["value"]
            assert (drug["start"], drug["text"]) == (3, "阿司匹林")
        else:  # spaCy's own Chinese tokenizer cannot hash a lone surrogate
            assert tasks[0]["predictions"] == [] and "UnicodeEncodeError" in said(result)
            assert "UnicodeEncodeError" in tasks[0]["meta"]["zh_medner_error"]
            assert tasks[1]["predictions"][0]["model_version"] == "zh_medner_test-0.0.1"


def test_annotate_command_writes_one_line_per_input_line(model, tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": f"r{i}", "text": t}, ensure_ascii=False) for i, t in enumerate(TEXTS)
    ]
    src.write_text("\n".join(lines[:2] + ["{broken"] + lines[2:]) + "\n", encoding="utf8")
    result = zh_medner("annotate", model, src, tmp_path / "cli.jsonl")
    assert result.returncode == 0, result.stderr
    assert f"{src}:3: invalid JSON" in result.stderr
    cli = (tmp_path / "cli.jsonl").read_text(encoding="utf8")
    rows = [json.loads(x) for x in cli.splitlines()]
    assert [r["line"] for r in rows] == list(range(1, len(TEXTS) + 2))
    drug = rows[-1]["entities"][0]
    assert (drug["text"], drug["id"]) == ("拜阿司匹灵", "阿司匹林")


def test_serve_answers_concurrent_requests_over_http(model):
    with running_server(model, "--max-chars", "4000") as url:
        assert httpx.get(url + "/health").json()["status"] == "UP"

        def ask(i):
            text = TEXTS[i % len(TEXTS)]
            r = httpx.post(url + "/annotate", json={"texts": [text]}, timeout=60)
            return text, r.status_code, r.json()["docs"][0]["text"]

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(40)))
        assert all(status == 200 and sent == got for sent, status, got in answers)
        # a long text in the URL of the page (percent-encoded: 9 bytes a character)
        long_text = "患者慢性胃炎伴胃痛三天。" * 300
        r = httpx.get(url + "/", params={"text": long_text}, timeout=120)
        assert r.status_code == 200 and r.text.count('data-label="DIS"') >= 300
        r = httpx.post(url + "/annotate", json={"texts": ["长" * 4001]})
        assert r.status_code == 413


def test_serve_refuses_a_busy_port_and_an_unknown_model(model):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = zh_medner("serve", model, "--port", port, timeout=60)
    assert result.returncode == 1 and "choose another --port" in said(result)
    result = zh_medner("serve", "no_such_model", timeout=60)
    assert result.returncode == 1 and "no pipeline folder" in said(result)
    result = zh_medner("serve", model, "--max-texts", "0", timeout=60)
    assert result.returncode == 2  # typer refuses a limit under 1


@pytest.mark.parametrize("command", ["serve", "annotate", "pre-annotate"])
def test_precision_is_checked_before_the_pipeline_loads(model, tmp_path, command):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "发热"}\n', encoding="utf8")
    paths = [] if command == "serve" else [src, tmp_path / "out.json"]
    bad = zh_medner(command, model, *paths, "--precision", "fp16")
    assert bad.returncode == 1 and "use one of auto, fp32, bf16, int8" in said(bad)
    # the test pipeline's tok2vec is a CNN: no encoder precision to set
    none = zh_medner(command, model, *paths, "--precision", "int8")
    assert none.returncode == 1 and "no encoder with a precision setting" in said(none)


def test_annotate_at_a_precision_records_it_for_resume(tmp_path):
    from zh_medner.encoder.random_init import build_random_encoder

    from .test_components_transformer import LISTENER, WINDOW

    encoder = tmp_path / "enc"
    build_random_encoder(encoder, seed=1, hidden=32, layers=1, heads=1, intermediate=64)
    nlp = spacy.blank("zh")
    trf = {"@architectures": "zh_medner.TransformerModel.v1", "name": str(encoder)}
    nlp.add_pipe("transformer", config={"model": {**trf, "get_spans": WINDOW}})
    nlp.add_pipe("span_head", config={"model": {"max_length": 8, "tok2vec": LISTENER}})
    nlp.get_pipe("span_head").add_label("SYM")
    nlp.initialize()
    nlp.to_disk(tmp_path / "pipe")
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "患者发热"}\n{"text": "咳嗽"}\n', encoding="utf8")
    out = tmp_path / "out.jsonl"
    result = zh_medner("annotate", tmp_path / "pipe", src, out, "--precision", "bf16")
    assert result.returncode == 0, said(result)
    assert len(out.read_text(encoding="utf8").splitlines()) == 2
    sidecar = json.loads((tmp_path / "out.jsonl.resume.json").read_text(encoding="utf8"))
    assert sidecar["options"]["precision"] == "bf16"
    other = zh_medner("annotate", tmp_path / "pipe", src, out, "--precision", "fp32")
    assert other.returncode == 1  # a resume at another precision is another run


def test_pre_annotate_select_writes_the_next_n_tasks(model, tmp_path):
    src = tmp_path / "texts.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf8")
    out = tmp_path / "next.json"
    result = zh_medner("pre-annotate", model, src, out, "--select", "2")
    assert result.returncode == 0, said(result)
    assert len(json.loads(out.read_text(encoding="utf8"))) == 2
    bad = zh_medner("pre-annotate", model, src, tmp_path / "x.json", "--strategy", "greedy")
    assert bad.returncode == 1 and "use one of random, least_confident" in said(bad)
