import json
import subprocess
import sys

import pytest
from spacy.tokens import DocBin

from zh_medner.annotations import records as R
from zh_medner.annotations.label_map import read_label_map
from zh_medner.corpus import docbin as C

from .conftest import FIXTURES, ROOT


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def spans(doc):
    return [(s.text, s.label_) for s in doc.spans[C.SPANS_KEY]]


def test_label_studio_latest_non_cancelled_annotation_nested_and_unannotated(nlp):
    docs, report = C.convert(nlp, FIXTURES / "label_studio.json", "label-studio")
    assert len(docs) == 2  # the unannotated task is not a training example
    # the newer completed annotation wins over the older one; the cancelled newest is ignored
    assert ents(docs[0]) == [("高血压", "DIS"), ("发热", "SYM")]
    # nested: the outer DIS is the flat choice, the inner BOD stays in spans; relations are skipped
    assert ents(docs[1]) == [("左肺下叶肺炎", "DIS"), ("头孢曲松", "DRU")]
    assert spans(docs[1]) == [("左肺下叶肺炎", "DIS"), ("左肺下叶", "BOD"), ("头孢曲松", "DRU")]
    assert report.in_ents["DIS"] == 2 and report.spans_only["BOD"] == 1
    assert report.entities_in == report.kept == 5 and not report.drops


def test_brat_reports_discontinuous_spans(nlp):
    docs, report = C.convert(nlp, FIXTURES / "brat", "brat")
    assert ents(docs[0]) == [("右下腹压痛", "SYM"), ("血常规", "ITE"), ("白细胞", "ITE")]
    (drop,) = report.drops
    assert (drop.reason, drop.line, drop.label) == (R.DISCONTINUOUS, 2, "SYM")
    assert drop.path.endswith("note1.ann")


def test_jsonl_label_or_category_and_every_drop_reason(nlp):
    docs, report = C.convert(nlp, FIXTURES / "sample.jsonl", "jsonl")
    assert ents(docs[0]) == [("二甲双胍", "DRU"), ("糖化血红蛋白", "ITE")]
    assert ents(docs[1]) == [("发热", "SYM")]
    reasons = sorted(d.reason for d in report.drops)
    assert reasons == sorted(
        [R.MISALIGNED, R.OUT_OF_RANGE, R.EMPTY, R.UNKNOWN_LABEL, R.DUPLICATE, R.TEXT_MISMATCH]
    )
    assert all(d.line == 2 and d.path.endswith("sample.jsonl") for d in report.drops)
    assert report.kept + len(report.drops) == report.entities_in == 9


@pytest.mark.parametrize("name", ["cmeee.json", "cmeee.jsonl"])
def test_cmeee_inclusive_end_and_upper_case_labels(nlp, name):
    docs, report = C.convert(nlp, FIXTURES / name, "cmeee")
    assert ents(docs[0]) == [("幽门螺杆菌感染", "DIS"), ("消化内科", "DEP")]
    assert ("幽门螺杆菌", "MIC") in spans(docs[0])
    assert report.spans_only == {"MIC": 1}


def test_doccano(nlp):
    docs, _ = C.convert(nlp, FIXTURES / "doccano.jsonl", "doccano")
    assert ents(docs[0]) == [("胃镜检查", "PRO"), ("呼吸机", "EQU")]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("sample_bio.conll", [[("乙肝病毒", "MIC")], [("腹痛", "SYM")]]),
        ("sample_bioes.conll", [[("心内科", "DEP")], [("咳", "SYM"), ("痰", "SYM")]]),
    ],
)
def test_conll_bio_and_bioes(nlp, name, expected):
    docs, _ = C.convert(nlp, FIXTURES / name, "conll")
    assert [ents(d) for d in docs] == expected


def test_conll_stray_inside_tag_begins_an_entity(nlp, tmp_path):
    path = tmp_path / "stray.conll"
    path.write_text("发 O\n热 I-SYM\n", encoding="utf8")
    docs, _ = C.convert(nlp, path, "conll")
    assert ents(docs[0]) == [("热", "SYM")]


def test_label_map_renames_and_drops(nlp):
    mapping = read_label_map(FIXTURES / "label_map.json")
    docs, report = C.convert(nlp, FIXTURES / "custom_labels.jsonl", "jsonl", label_map=mapping)
    assert ents(docs[0]) == [("糖尿病", "DIS"), ("多饮", "SYM")]
    assert [(d.label, d.reason) for d in report.drops] == [("其他", R.LABEL_MAP)]
    # without the map, the Chinese labels are unknown
    _, report = C.convert(nlp, FIXTURES / "custom_labels.jsonl", "jsonl")
    assert {d.reason for d in report.drops} == {R.UNKNOWN_LABEL}


def test_flat_choice_outermost_then_longer_then_earlier(nlp):
    doc = nlp.make_doc("甲乙丙丁戊")
    a = doc[0:3]  # 甲乙丙
    crossing = doc[2:5]  # 丙丁戊: same length, later -> loses
    inner = doc[1:2]
    chosen = C.flat_choice([inner, crossing, a])
    assert [(s.start, s.end) for s in chosen] == [(0, 3)]
    assert [(s.start, s.end) for s in C.flat_choice([doc[3:5], doc[0:1]])] == [(0, 1), (3, 5)]


@pytest.mark.parametrize(
    "fmt,content,line,fragment",
    [
        (
            "label-studio",
            '[\n {"data": {"text": "发热"}, "annotations": []},\n '
            '{"data": {"text": "x"}, "annotations": [}\n]',
            3,
            "invalid JSON",
        ),
        ("label-studio", '[\n {"data": {}}\n]', 2, "missing key 'text'"),
        ("label-studio", '{"data": {}}', 1, "expected a JSON array"),
        (
            "jsonl",
            '{"text": "发热", "entities": []}\n'
            '{"text": "咳嗽", "entities": [{"start": "0", "end": 2, "label": "SYM"}]}\n',
            2,
            "'start' must be an integer",
        ),
        ("jsonl", '{"text": "发热"}\n\n{"text": 3}\n', 3, "'text' must be str"),
        (
            "cmeee",
            '{"text": "发热", "entities": [{"start_idx": 0, "type": "sym"}]}\n',
            1,
            "missing key 'end_idx'",
        ),
        ("doccano", '{"text": "发热", "label": [[0, 2]]}\n', 1, "doccano label"),
        ("conll", "发 B-SYM\n热 I-SYM\n\n咳 X-SYM\n", 4, "unknown tag"),
        ("conll", "发 B-SYM\n热\n", 2, "expected 'CHAR TAG'"),
    ],
)
def test_malformed_input_names_file_and_line(nlp, tmp_path, fmt, content, line, fragment):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf8")
    with pytest.raises(R.ConversionError) as err:
        C.convert(nlp, path, fmt)
    assert err.value.line == line and err.value.path == str(path)
    assert f"{path}:{line}:" in str(err.value) and fragment in str(err.value)


def test_malformed_brat_line(nlp, tmp_path):
    (tmp_path / "a.txt").write_text("发热", encoding="utf8")
    (tmp_path / "a.ann").write_text("T1\tSYM 0 2\t发热\nT2\tSYM zero 2\t发热\n", encoding="utf8")
    with pytest.raises(R.ConversionError, match=r"a\.ann:2: malformed offsets"):
        C.convert(nlp, tmp_path, "brat")


def test_split_is_seeded_and_complete(nlp):
    docs = [nlp.make_doc(str(i)) for i in range(10)]
    train, dev = C.split_docs(docs, 0.3, seed=1)
    again = C.split_docs(docs, 0.3, seed=1)
    assert [d.text for d in dev] == [d.text for d in again[1]] and len(dev) == 3
    assert sorted(d.text for d in train + dev) == sorted(d.text for d in docs)


def run_cli(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "convert.py"), *map(str, args)],
        capture_output=True,
        text=True,
    )


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
