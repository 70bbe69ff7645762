"""Records -> docs, the report, the split and the outputs (zh_medner.corpus, scripts/convert.py)."""

import json
import os
import subprocess
import sys

import pytest
from spacy.tokens import DocBin

from zh_medner import io
from zh_medner.annotations import records as R
from zh_medner.corpus import docbin as C

from .conftest import FIXTURES, ROOT, load_script

CONVERT = load_script("convert")


def run_cli(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "convert.py"), *map(str, args)],
        capture_output=True,
        text=True,
    )


def call_main(input_path, output, fmt="jsonl", **options):
    """scripts/convert.py's main in this process, with its defaults; returns the exit code."""
    args = dict(
        label_map=None,
        dev_output=None,
        dev_ratio=0.0,
        dev_block=1,
        seed=0,
        encoding="utf-8",
        allow_empty=False,
    )
    args.update(options)
    try:
        CONVERT.main(input_path, output, fmt, **args)
    except SystemExit as e:
        return e.code
    return 0


def convert_main(capsys, input_path, output, fmt="jsonl", **options):
    """(exit code, what it printed, unwrapped)"""
    code = call_main(input_path, output, fmt, **options)
    out = capsys.readouterr()
    return code, " ".join((out.out + out.err).split())


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def good_outputs(tmp_path):
    """A folder holding a good train, dev and report, as a previous run left them."""
    out = tmp_path / "corpus"
    code = call_main(
        FIXTURES / "sample.jsonl", out / "train.spacy", dev_output=out / "dev.spacy", dev_ratio=0.5
    )
    assert code == 0 and len(snapshot(out)) == 3
    return out


# --- docs and the report ------------------------------------------------------------------


def test_flat_choice_outermost_then_longer_then_earlier(nlp):
    doc = nlp.make_doc("甲乙丙丁戊")
    a = doc[0:3]  # 甲乙丙
    crossing = doc[2:5]  # 丙丁戊: same length, later -> loses
    inner = doc[1:2]
    chosen = C.flat_choice([inner, crossing, a])
    assert [(s.start, s.end) for s in chosen] == [(0, 3)]
    assert [(s.start, s.end) for s in C.flat_choice([doc[3:5], doc[0:1]])] == [(0, 1), (3, 5)]


def test_split_is_seeded_and_complete(nlp):
    docs = [nlp.make_doc(str(i)) for i in range(10)]
    train, dev = C.split_docs(docs, 0.3, seed=1)
    again = C.split_docs(docs, 0.3, seed=1)
    assert [d.text for d in dev] == [d.text for d in again[1]] and len(dev) == 3
    assert sorted(d.text for d in train + dev) == sorted(d.text for d in docs)


def test_split_never_leaves_a_side_empty_when_it_can_fill_both(nlp):
    docs = [nlp.make_doc(str(i)) for i in range(3)]
    assert [len(side) for side in C.split_docs(docs, 0.01, 0)] == [2, 1]
    assert [len(side) for side in C.split_docs(docs, 0.99, 0)] == [1, 2]
    assert [len(side) for side in C.split_docs(docs[:1], 0.5, 0)] == [1, 0]


def test_a_block_split_holds_out_whole_runs_of_records_and_block_1_is_the_record_split(nlp):
    docs = [nlp.make_doc(str(i)) for i in range(100)]
    for seed in range(5):
        by_record = C.split_docs(docs, 0.2, seed)
        assert C.split_docs(docs, 0.2, seed, block=1) == by_record  # the shipped split stays
        train, dev = C.split_docs(docs, 0.2, seed, block=10)
        held = sorted(int(d.text) for d in dev)
        assert len(held) == 20 and sorted(int(d.text) for d in train + dev) == list(range(100))
        assert len({i // 10 for i in held}) == 2  # so two whole runs of ten
    with pytest.raises(C.OptionError, match="--dev-block must be 1 or more"):
        C.split_docs(docs, 0.2, 0, block=0)


def test_a_record_over_max_length_is_refused_with_its_line(tmp_path):
    import spacy

    nlp = spacy.blank("zh")
    nlp.max_length = 10
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "短"}\n{"text": "' + "长" * 11 + '"}\n', encoding="utf8")
    with pytest.raises(R.ConversionError, match=r"a\.jsonl:2: the text has 11 characters, over"):
        C.convert(nlp, path, "jsonl")


# --- empty inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,content",
    [
        ("jsonl", ""),
        ("jsonl", "\n  \r\n\ufeff\n"),
        ("cmeee", "\ufeff \n"),
        ("cmeee", "[]"),
        ("conll", "\n\n"),
        ("doccano", ""),
        ("label-studio", " \n"),
        ("label-studio", "[]"),
    ],
)
def test_empty_or_blank_input_never_replaces_a_good_corpus(
    capsys, tmp_path, good_outputs, fmt, content
):
    path = tmp_path / "empty"
    path.write_text(content, encoding="utf8")
    before = snapshot(good_outputs)
    code, out = convert_main(
        capsys,
        path,
        good_outputs / "train.spacy",
        fmt,
        dev_output=good_outputs / "dev.spacy",
        dev_ratio=0.5,
    )
    assert code == 1 and "no records to convert" in out and "--allow-empty" in out
    assert snapshot(good_outputs) == before


def test_allow_empty_writes_empty_outputs(capsys, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf8")
    code, _ = convert_main(capsys, path, tmp_path / "out.spacy", allow_empty=True)
    assert code == 0 and len(DocBin().from_disk(tmp_path / "out.spacy")) == 0
    assert json.loads((tmp_path / "out.report.json").read_text(encoding="utf8"))["records"] == 0


def test_label_studio_with_no_completed_annotation_says_so(capsys, tmp_path):
    path = tmp_path / "tasks.json"
    path.write_text('[{"data": {"text": "发热"}, "annotations": []}]', encoding="utf8")
    code, out = convert_main(capsys, path, tmp_path / "out.spacy", "label-studio")
    assert code == 1 and "none of its 1 tasks has a completed" in out


def test_too_few_records_to_split_are_refused(capsys, tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"text": "发热"}\n', encoding="utf8")
    code, out = convert_main(
        capsys, path, tmp_path / "t.spacy", dev_output=tmp_path / "d.spacy", dev_ratio=0.5
    )
    assert code == 1 and "cannot fill both train and dev" in out
    assert not list(tmp_path.glob("*.spacy"))


# --- arguments and paths, all checked before any work -------------------------------------


@pytest.mark.parametrize(
    "options,fragment",
    [
        (dict(dev_ratio=1.0), "1 would leave train empty"),
        (dict(dev_ratio=0.0), "--dev-output and --dev-ratio go together"),
        (dict(dev_ratio=0.0, dev_output=None, dev_block=5), "--dev-block needs --dev-output"),
        (dict(dev_ratio=-0.2), "--dev-ratio must be above 0 and below 1"),
        (dict(dev_ratio=float("nan")), "--dev-ratio must be above 0 and below 1"),
        (dict(dev_ratio=0.5, encoding="utf-16"), "not ASCII-compatible"),
        (dict(dev_ratio=0.5, fmt="xml"), "unknown format 'xml'"),
        (dict(dev_ratio=0.5, label_map="missing.json"), "missing.json: no such file"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(
    capsys, tmp_path, monkeypatch, options, fragment
):
    monkeypatch.setattr(CONVERT, "convert", lambda *a, **k: pytest.fail("converted anyway"))
    options.setdefault("dev_output", tmp_path / "dev.spacy")
    if "label_map" in options:
        options["label_map"] = tmp_path / options["label_map"]
    code, out = convert_main(capsys, FIXTURES / "sample.jsonl", tmp_path / "t.spacy", **options)
    assert code == 1 and fragment in out
    assert not any(tmp_path.iterdir())


def test_the_output_is_never_an_input(capsys, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_bytes((FIXTURES / "sample.jsonl").read_bytes())
    (tmp_path / "link.jsonl").symlink_to(data)
    label_map = tmp_path / "map.json"
    label_map.write_text("{}", encoding="utf8")
    cases = [
        dict(output=data),
        dict(output=tmp_path / "link.jsonl"),
        dict(output=tmp_path / "t.spacy", dev_output=tmp_path / "data.jsonl", dev_ratio=0.5),
        dict(output=tmp_path / "t.spacy", dev_output=tmp_path / ".." / tmp_path.name / "t.spacy"),
        dict(output=tmp_path / "t.spacy", dev_output=tmp_path / "t.report.json", dev_ratio=0.5),
        dict(output=label_map, label_map=label_map),
    ]
    before = snapshot(tmp_path)
    for case in cases:
        case.setdefault("dev_ratio", 0.5 if case.get("dev_output") else 0.0)
        code, out = convert_main(capsys, data, fmt="jsonl", **case)
        assert code == 1, case
        assert "is an input" in out or "is given for two outputs" in out, out
    assert snapshot(tmp_path) == before


def test_the_output_is_never_a_brat_input(capsys, tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    for p in (FIXTURES / "brat").iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    code, out = convert_main(capsys, folder, folder / "note1.txt", "brat")
    assert code == 1 and "is an input" in out
    assert (folder / "note1.txt").read_bytes() == (FIXTURES / "brat" / "note1.txt").read_bytes()


@pytest.mark.parametrize("where", ["input", "output"])
def test_paths_that_are_folders_or_under_a_file(capsys, tmp_path, where):
    a_file = tmp_path / "f.jsonl"
    a_file.write_bytes((FIXTURES / "sample.jsonl").read_bytes())
    for bad, fragment in [(tmp_path, "is a folder"), (a_file / "x", "f.jsonl is a file")]:
        args = (bad, tmp_path / "o.spacy") if where == "input" else (a_file, bad)
        code, out = convert_main(capsys, *args)
        assert code == 1 and fragment in out, out
    assert not (tmp_path / "o.spacy").exists()


def test_gbk_input_on_the_command_line(capsys, tmp_path):
    path = tmp_path / "gbk.jsonl"
    path.write_bytes(
        '{"text": "发热", "entities": [{"start": 0, "end": 2, "label": "SYM"}]}'.encode("gbk")
    )
    code, out = convert_main(capsys, path, tmp_path / "t.spacy")
    out = out
    assert code == 1 and f"{path}:1: not valid UTF-8" in out
    assert "iconv -f GBK -t UTF-8" in out and "--encoding gbk" in out
    code, _ = convert_main(capsys, path, tmp_path / "t.spacy", encoding="gbk")
    assert code == 0 and len(DocBin().from_disk(tmp_path / "t.spacy")) == 1


def test_gbk_label_map_needs_no_encoding_hint(capsys, tmp_path):
    label_map = tmp_path / "map.json"
    label_map.write_bytes('{"发热": "SYM"}'.encode("gbk"))
    code, out = convert_main(
        capsys, FIXTURES / "sample.jsonl", tmp_path / "t.spacy", label_map=label_map
    )
    assert code == 1 and f"{label_map}:1: not valid UTF-8" in out
    assert "--encoding" not in out


def test_a_record_over_max_length_on_the_command_line(capsys, tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text('{"text": "短"}\n{"text": "' + "长" * 1_000_001 + '"}\n', encoding="utf8")
    code, out = convert_main(capsys, path, tmp_path / "t.spacy")
    assert code == 1 and f"{path}:2: the text has 1,000,001 characters" in out
    assert not (tmp_path / "t.spacy").exists()


# --- outputs: all or nothing --------------------------------------------------------------


def test_a_failed_dev_write_changes_no_output(capsys, good_outputs, monkeypatch):
    before = snapshot(good_outputs)
    real = DocBin.to_disk

    def to_disk(self, path, *args, **kwargs):
        if ".dev.spacy." in str(path):
            raise OSError(28, "No space left on device", str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(DocBin, "to_disk", to_disk)
    code, out = convert_main(
        capsys,
        FIXTURES / "label_studio.json",
        good_outputs / "train.spacy",
        "label-studio",
        dev_output=good_outputs / "dev.spacy",
        dev_ratio=0.5,
    )
    assert code == 1 and "No space left on device" in out and "no output changed" in out
    assert snapshot(good_outputs) == before  # no temporaries either


def test_a_failed_rename_puts_the_old_outputs_back(tmp_path, monkeypatch):
    targets = [tmp_path / name for name in ("a", "b", "c")]
    for p in targets:
        p.write_text("old " + p.name, encoding="utf8")
    real = os.replace

    def replace(src, dst):
        if str(src).endswith(".tmp") and str(dst).endswith("/c"):
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(OSError):
        io.write_atomic_all(
            {p: lambda tmp: tmp.write_text("new", encoding="utf8") for p in targets}
        )
    assert {p.name: p.read_text(encoding="utf8") for p in tmp_path.iterdir()} == {
        "a": "old a",
        "b": "old b",
        "c": "old c",
    }


def test_write_atomic_all_creates_or_replaces_every_file(tmp_path):
    (tmp_path / "a").write_text("old", encoding="utf8")
    writers = {tmp_path / n: (lambda tmp, n=n: tmp.write_text(n, encoding="utf8")) for n in "ab"}
    io.write_atomic_all(writers)
    assert {p.name: p.read_text(encoding="utf8") for p in tmp_path.iterdir()} == {
        "a": "a",
        "b": "b",
    }


def test_write_atomic_all_never_moves_a_folder(tmp_path):
    """A folder where a file should go is refused; it is never moved aside (hidden)."""
    (tmp_path / "tasks.json").mkdir()
    (tmp_path / "tasks.json" / "keep.txt").write_text("mine", encoding="utf8")
    (tmp_path / "a").write_text("old", encoding="utf8")
    writers = {tmp_path / n: (lambda tmp: tmp.write_text("new", encoding="utf8")) for n in ("a",)}
    writers[tmp_path / "tasks.json"] = lambda tmp: tmp.write_text("new", encoding="utf8")
    with pytest.raises(io.PathError, match=r"tasks.json: is a folder"):
        io.write_atomic_all(writers)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "tasks.json"]
    assert (tmp_path / "tasks.json" / "keep.txt").read_text(encoding="utf8") == "mine"
    assert (tmp_path / "a").read_text(encoding="utf8") == "old"


# --- the command line ---------------------------------------------------------------------


def test_cli_writes_docbins_and_report(tmp_path, nlp):
    out = tmp_path / "train.spacy"
    result = run_cli(
        FIXTURES / "sample.jsonl",
        out,
        "--format",
        "jsonl",
        "--dev-output",
        tmp_path / "dev.spacy",
        "--dev-ratio",
        "0.5",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "train.report.json").read_text(encoding="utf8"))
    assert report["entities_in"] == 9 and report["kept"] == 3 and report["dropped"] == 6
    assert {d["reason"] for d in report["drops"]} >= {R.EMPTY, R.OUT_OF_RANGE}
    assert all(d["line"] == 2 for d in report["drops"])
    n = sum(len(DocBin().from_disk(p)) for p in (out, tmp_path / "dev.spacy"))
    assert n == 2


def test_cli_malformed_input_leaves_no_output(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "发热", "entities": []}\n{"text": \n', encoding="utf8")
    out = tmp_path / "out" / "train.spacy"
    result = run_cli(bad, out, "--format", "jsonl")
    assert result.returncode == 1
    assert f"{bad}:2" in result.stdout + result.stderr
    assert not out.exists() and not (tmp_path / "out" / "train.report.json").exists()
    assert not list(tmp_path.glob("**/*.tmp"))


def test_cli_options_encoding_and_allow_empty(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf8")
    result = run_cli(empty, tmp_path / "t.spacy", "--format", "jsonl", "--allow-empty")
    assert result.returncode == 0, result.stdout + result.stderr
    gbk = tmp_path / "gbk.conll"
    gbk.write_bytes("发 B-SYM\n热 I-SYM\n".encode("gbk"))
    result = run_cli(gbk, tmp_path / "t.spacy", "--format", "conll", "--encoding", "gbk")
    assert result.returncode == 0, result.stdout + result.stderr
