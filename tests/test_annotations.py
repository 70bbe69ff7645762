"""The reading layer (zh_medner.io) and the annotation readers (zh_medner.annotations)."""

import json

import pytest

from zh_medner import io
from zh_medner.annotations import READERS
from zh_medner.annotations import records as R
from zh_medner.annotations.brat import read_brat
from zh_medner.annotations.label_map import read_label_map
from zh_medner.corpus import docbin as C

from .conftest import FIXTURES

BOM = b"\xef\xbb\xbf"


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def spans(doc):
    return [(s.text, s.label_) for s in doc.spans[C.SPANS_KEY]]


# --- the reading layer --------------------------------------------------------------------


def test_read_text_drops_the_bom_and_keeps_line_breaks(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(BOM + "发热\r\n咳嗽\r痰".encode())
    assert io.read_text(path) == "发热\r\n咳嗽\r痰"  # offsets into it stay the file's own


def test_iter_lines_ends_lines_at_lf_crlf_and_lone_cr(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(BOM + b"a\r\nb\rc\n\r\nd\r")
    assert list(io.iter_lines(path)) == [(1, "a"), (2, "b"), (3, "c"), (4, ""), (5, "d")]
    # a lone CR stays in the line but still counts for the numbering
    assert list(io.iter_lines(path, split_cr=False)) == [(1, "a"), (2, "b\rc"), (4, ""), (5, "d")]


def test_line_index_counts_every_kind_of_line_break():
    lines = io.LineIndex("a\r\nb\rc\nd")
    assert [lines.line(i) for i in (0, 1, 3, 5, 7)] == [1, 1, 2, 3, 4]


@pytest.mark.parametrize("read", [io.read_text, lambda p: list(io.iter_lines(p))])
def test_gbk_names_file_line_column_and_the_fix(tmp_path, read):
    path = tmp_path / "notes.txt"
    path.write_bytes("第一行\n第二行\r\n".encode() + "患者发热".encode("gbk") + b"\n")
    with pytest.raises(io.EncodingError) as err:
        read(path)
    assert err.value.line == 3 and str(err.value).startswith(f"{path}:3: not valid UTF-8")
    assert "column 1" in str(err.value) and "iconv -f GBK -t UTF-8" in str(err.value)
    assert "notes.utf8.txt" in str(err.value)


def test_another_encoding_when_named(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("患者发热\n咳嗽".encode("gbk"))
    assert io.read_text(path, "gbk") == "患者发热\n咳嗽"
    assert list(io.iter_lines(path, "GB18030")) == [(1, "患者发热"), (2, "咳嗽")]


@pytest.mark.parametrize(
    "encoding,fragment", [("utf-16", "not ASCII-compatible"), ("klingon", "unknown encoding")]
)
def test_encodings_that_cannot_be_read_line_by_line_are_refused(encoding, fragment):
    with pytest.raises(ValueError, match=fragment):
        io.check_encoding(encoding)


def test_input_paths_missing_folder_or_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x", encoding="utf8")
    with pytest.raises(io.TextInputError, match="no such file$"):
        io.check_input(tmp_path / "missing")
    with pytest.raises(io.TextInputError, match=r"no such file \(.*f is a file, not a folder\)"):
        io.check_input(tmp_path / "f" / "x")
    with pytest.raises(io.TextInputError, match="is a folder; give a file"):
        io.read_text(tmp_path)
    assert io.check_input(tmp_path, folder_ok=True) == tmp_path


# --- every format through the reading layer -----------------------------------------------

# (format, file name, content): one record "发热" with one SYM entity
ONE_RECORD = [
    (
        "label-studio",
        "a.json",
        '[{"data": {"text": "发热"}, "annotations": [{"result": [{"type": "labels", '
        '"value": {"start": 0, "end": 2, "labels": ["SYM"]}}]}]}]',
    ),
    ("jsonl", "a.jsonl", '{"text": "发热", "entities": [{"start": 0, "end": 2, "label": "SYM"}]}'),
    (
        "cmeee",
        "a.jsonl",
        '{"text": "发热", "entities": [{"start_idx": 0, "end_idx": 1, "type": "sym"}]}',
    ),
    (
        "cmeee",
        "a.json",
        '[{"text": "发热", "entities": [{"start_idx": 0, "end_idx": 1, "type": "sym"}]}]',
    ),
    ("doccano", "a.jsonl", '{"text": "发热", "label": [[0, 2, "SYM"]]}'),
    ("conll", "a.conll", "发 B-SYM\n热 I-SYM\n"),
    ("brat", "a.ann", "T1\tSYM 0 2\t发热\n"),
]


def write_one(tmp_path, fmt, name, content, encode=str.encode, crlf=False):
    path = tmp_path / name
    content = content.replace("\n", "\r\n") if crlf else content
    path.write_bytes(encode(content))
    if fmt == "brat":
        (tmp_path / "a.txt").write_bytes(encode("发热"))
    return path


@pytest.mark.parametrize("fmt,name,content", ONE_RECORD)
@pytest.mark.parametrize("bom,crlf", [(True, False), (False, True), (True, True)])
def test_every_format_reads_a_bom_and_crlf(nlp, tmp_path, fmt, name, content, bom, crlf):
    path = write_one(tmp_path, fmt, name, content, lambda s: BOM * bom + s.encode(), crlf)
    docs, report = C.convert(nlp, path, fmt)
    assert [ents(d) for d in docs] == [[("发热", "SYM")]] and not report.drops


@pytest.mark.parametrize("fmt,name,content", ONE_RECORD)
def test_every_format_names_the_line_of_gbk_input(nlp, tmp_path, fmt, name, content):
    path = write_one(tmp_path, fmt, name, content, lambda s: s.encode("gbk"))
    with pytest.raises(io.EncodingError) as err:
        C.convert(nlp, path, fmt)
    assert err.value.line == 1 and "iconv -f GBK" in str(err.value)
    docs, _ = C.convert(nlp, path, fmt, encoding="gbk")
    assert [ents(d) for d in docs] == [[("发热", "SYM")]]


def test_label_map_gbk_missing_and_wrong_types(tmp_path):
    path = tmp_path / "map.json"
    path.write_bytes('{\n "疾病": "DIS"\n}'.encode("gbk"))
    with pytest.raises(io.EncodingError, match=r"map\.json:2: not valid UTF-8"):
        read_label_map(path)
    with pytest.raises(R.ConversionError, match=r"nope\.json: no such file"):
        read_label_map(tmp_path / "nope.json")
    path.write_text('{\n "疾病": "DIS",\n "其他": 3\n}', encoding="utf8")
    with pytest.raises(R.ConversionError, match=r'map\.json:3: label "其他" maps to 3'):
        read_label_map(path)
    path.write_bytes(BOM + '{"其他": null}'.encode())
    assert read_label_map(path) == {"其他": None}


def test_jsonl_raw_cr_inside_a_string_stays_one_record(nlp, tmp_path):
    path = tmp_path / "a.jsonl"
    line = '{"text": "发热\r咳嗽", "entities": [{"start": 3, "end": 5, "label": "SYM"}]}'
    path.write_text(line + "\r\n" + line + "\r" + line, encoding="utf8", newline="")
    docs, report = C.convert(nlp, path, "jsonl")
    assert [d.text for d in docs] == ["发热\r咳嗽"] * 3
    assert [ents(d) for d in docs] == [[("咳嗽", "SYM")]] * 3 and not report.drops
    # line numbers are an editor's, which breaks lines at every lone CR, inside strings too
    assert [r.line for r in READERS["jsonl"](path, "utf-8")] == [1, 3, 5]


# --- types, named by file, line and field -------------------------------------------------


@pytest.mark.parametrize(
    "fmt,content,fragment",
    [
        ("label-studio", '[\n "发热"\n]', "the task must be a JSON object, got string"),
        ("label-studio", '[\n {"data": {"text": "x"}, "annotations": {}}\n]', "'annotations'"),
        (
            "label-studio",
            '[\n {"data": {"text": "x"}, "annotations": ["done"]}\n]',
            "annotations[0] must be a JSON object",
        ),
        (
            "label-studio",
            '[\n {"data": {"text": "x"}, "annotations": [{"result": [{"type": "labels", '
            '"value": {"start": 0, "end": 1, "labels": [7]}}]}]}\n]',
            "annotations[0].result[0].value: 'labels[0]' must be str",
        ),
        (
            "label-studio",
            '[\n {"data": {"text": "x"}, "annotations": [{"updated_at": 5, "result": []}]}\n]',
            "annotations[0]: 'updated_at' must be str",
        ),
        ("label-studio", '[\n {"data": {"text": "x"}}] x\n', "unexpected content after"),
        ("jsonl", '{"text": "x"}\n[1, 2]\n', "the record must be a JSON object, got list"),
        ("jsonl", '{"text": "x"}\n{"text": "x", "entities": 3}\n', "'entities' must be a list"),
        (
            "jsonl",
            '{"text": "x"}\n{"text": "x", "entities": [{"start": 0, "end": 1, "label": 3}]}\n',
            "entities[0]: 'label' must be str, got int 3",
        ),
        ("jsonl", '{"text": "x"}\n{"text": "x", "entities": [5]}\n', "entities[0] must be a JSON"),
        ("jsonl", '{"text": "x"}\n{"text": "\\ud800x"}\n', "lone surrogate U+D800 at offset 0"),
        (
            "cmeee",
            '{"text": "x"}\n{"text": "x", "entities": [{"start_idx": 0, "end_idx": 0, '
            '"type": 1}]}\n',
            "entities[0]: 'type' must be str",
        ),
        ("doccano", '{"text": "x"}\n{"text": "x", "label": [[0, 1, 2]]}\n', "label[0]: a doccano"),
        (
            "doccano",
            '{"text": "x"}\n{"text": "x", "entities": [{"start_offset": 0, "end_offset": true, '
            '"label": "SYM"}]}\n',
            "entities[0]: 'end_offset' must be an integer, got true",
        ),
    ],
)
def test_types_are_checked_with_file_line_and_field(nlp, tmp_path, fmt, content, fragment):
    path = tmp_path / "bad"
    path.write_text(content, encoding="utf8")
    with pytest.raises(R.ConversionError) as err:
        C.convert(nlp, path, fmt)
    assert err.value.line == 2 and f"{path}:2: " in str(err.value)
    assert fragment in str(err.value)


# --- BRAT ---------------------------------------------------------------------------------


def brat(tmp_path, ann: str, txt: bytes | str = "发热，咳嗽"):
    (tmp_path / "a.ann").write_bytes(ann.encode() if isinstance(ann, str) else ann)
    (tmp_path / "a.txt").write_bytes(txt.encode() if isinstance(txt, str) else txt)
    return tmp_path / "a.ann"


def test_brat_ann_with_a_bom_keeps_its_first_entity(nlp, tmp_path):
    path = brat(tmp_path, BOM + "T1\tSYM 0 2\t发热\nT2\tSYM 3 5\t咳嗽\n".encode())
    docs, report = C.convert(nlp, path, "brat")
    assert ents(docs[0]) == [("发热", "SYM"), ("咳嗽", "SYM")]
    assert report.entities_in == report.kept == 2


@pytest.mark.parametrize(
    "line,fragment",
    [
        (" T2\tSYM 3 5\t咳嗽", "starts with whitespace"),
        ("t2\tSYM 3 5\t咳嗽", "upper-case T"),
        ("T2 SYM 3 5 咳嗽", "malformed T line"),
        ("Tx\tSYM 3 5\t咳嗽", "malformed T line"),
        ("X1\tSYM 3 5\t咳嗽", "unknown annotation line"),
        ("T2\tSYM\t咳嗽", "malformed T line"),
        ("T2\tSYM 3 ５\t咳嗽", "malformed offsets"),
    ],
)
def test_brat_lines_that_are_not_annotations_are_refused(nlp, tmp_path, line, fragment):
    path = brat(tmp_path, f"T1\tSYM 0 2\t发热\r\n{line}\r\n")
    with pytest.raises(R.ConversionError) as err:
        C.convert(nlp, path, "brat")
    assert err.value.line == 2 and fragment in str(err.value)


def test_brat_known_annotation_kinds_blank_lines_and_tabs_in_text(nlp, tmp_path):
    ann = "T1\tSYM 0 2\t发热\n\nR1\tRel Arg1:T1 Arg2:T1\nE1\tX:T1\nA1\tNeg T1\nM1\tNeg T1\n"
    ann += (
        "N1\tRef T1 db:1\t发热\n#1\tAnnotatorNotes T1\tnote\n*\tEquiv T1 T1\nT2\tSYM 0 3\t发\t热\n"
    )
    docs, report = C.convert(nlp, brat(tmp_path, ann, "发\t热"), "brat")
    assert spans(docs[0]) == [("发\t热", "SYM")] and report.entities_in == 2
    assert [(d.line, d.reason) for d in report.drops] == [(1, R.TEXT_MISMATCH)]


@pytest.mark.parametrize("bom_counted", [True, False])
@pytest.mark.parametrize("crlf_once", [True, False])
def test_brat_txt_bom_and_crlf_either_way_offsets_were_counted(
    nlp, tmp_path, bom_counted, crlf_once
):
    """The brat server counts a BOM as character 0 and a \\r\\n once; most scripts do not."""
    text = "发热\r\n咳嗽"
    counted = ("\ufeff" if bom_counted else "") + (
        text.replace("\r\n", "\n") if crlf_once else text
    )
    a, b = counted.index("发"), counted.index("咳")
    ann = f"T1\tSYM {a} {a + 2}\t发热\nT2\tSYM {b} {b + 2}\t咳嗽\n"
    path = brat(tmp_path, ann, BOM + text.encode())
    (record,) = read_brat(path)
    assert record.text == (text.replace("\r\n", "\n") if crlf_once else text)
    docs, report = C.convert(nlp, path, "brat")
    assert ents(docs[0]) == [("发热", "SYM"), ("咳嗽", "SYM")] and not report.drops


def test_brat_offsets_that_match_no_reading_are_reported_not_moved(nlp, tmp_path):
    path = brat(tmp_path, "T1\tSYM 0 2\t咳嗽\nT2\tSYM 3 5\t咳嗽\n", BOM + "发热，咳嗽".encode())
    # brat's reading (BOM counted) matches no entity, the scripts' reading matches T2
    docs, report = C.convert(nlp, path, "brat")
    assert ents(docs[0]) == [("咳嗽", "SYM")]
    assert [(d.line, d.reason) for d in report.drops] == [(1, R.TEXT_MISMATCH)]


def test_brat_paths(nlp, tmp_path):
    brat(tmp_path, "T1\tSYM 0 2\t发热\n")
    with pytest.raises(R.ConversionError, match=r"a\.txt: give a \.ann file"):
        C.convert(nlp, tmp_path / "a.txt", "brat")
    (tmp_path / "a.txt").unlink()
    with pytest.raises(R.ConversionError, match=r"a\.ann: no text file a\.txt beside it"):
        C.convert(nlp, tmp_path, "brat")
    (tmp_path / "empty").mkdir()
    with pytest.raises(R.ConversionError, match=r"empty: no \.ann files in this folder"):
        C.convert(nlp, tmp_path / "empty", "brat")


# --- reader behaviour (from the former test_converters.py) --------------------------------


def test_label_studio_latest_non_cancelled_annotation_nested_and_unannotated(nlp):
    docs, report = C.convert(nlp, FIXTURES / "label_studio.json", "label-studio")
    assert len(docs) == 2  # the unannotated task is not a training example
    assert report.skipped_records == {R.UNANNOTATED: 1}  # but it is counted
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


def test_conll_whitespace_characters_and_lone_cr_lines(nlp, tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("发 B-SYM\r热\tI-SYM\r\u3000 O\r\n咳 X B-SYM\r\r嗽 S-SYM\r", encoding="utf8")
    docs, _ = C.convert(nlp, path, "conll")
    assert [d.text for d in docs] == ["发热\u3000咳", "嗽"]
    assert [ents(d) for d in docs] == [[("发热", "SYM"), ("咳", "SYM")], [("嗽", "SYM")]]


def test_label_map_renames_and_drops(nlp):
    mapping = read_label_map(FIXTURES / "label_map.json")
    docs, report = C.convert(nlp, FIXTURES / "custom_labels.jsonl", "jsonl", label_map=mapping)
    assert ents(docs[0]) == [("糖尿病", "DIS"), ("多饮", "SYM")]
    assert [(d.label, d.reason) for d in report.drops] == [("其他", R.DROPPED_BY_LABEL_MAP)]
    # without the map, the Chinese labels are unknown
    _, report = C.convert(nlp, FIXTURES / "custom_labels.jsonl", "jsonl")
    assert {d.reason for d in report.drops} == {R.UNKNOWN_LABEL}


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


HUGE = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "fmt,content,line,fragment",
    [
        ("jsonl", f'{{"text": "发热"}}\n{{"text": "咳嗽", "n": {HUGE}}}\n', 2, "more than 4300"),
        ("cmeee", f'{{"text": "发热"}}\n\n{{"text": "咳嗽", "x": {DEEP}}}\n', 3, "nested too"),
        (
            "label-studio",
            f'[\n {{"data": {{"text": "x"}}}},\n {{"data": {{"text": "y"}},\n  "n": {HUGE}}}\n]',
            4,  # the number's line
            "more than 4300 digits",
        ),
        ("label-studio", f'[\n {{"data": {{"text": "x"}}}},\n {DEEP}\n]', 3, "nested too"),
        ("doccano", f'{{"text": "发热", "label": {DEEP}}}\n', 1, "nested too deeply"),
    ],
)
def test_json_beyond_pythons_limits_names_file_and_line(
    nlp, tmp_path, fmt, content, line, fragment
):
    """Valid JSON that Python will not read (an integer over 4,300 digits, nesting past the
    recursion limit) is a ConversionError with file and line, not a traceback."""
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf8")
    with pytest.raises(R.ConversionError) as err:
        C.convert(nlp, path, fmt)
    assert f"{path}:{line}: invalid JSON" in str(err.value) and fragment in str(err.value)


@pytest.mark.parametrize(
    "content,line,fragment",
    [
        (f'{{\n "疾病": "DIS",\n "x": {HUGE}\n}}', 3, "more than 4300 digits"),
        (f'\n{{"疾病": {DEEP}}}', 2, "nested too deeply"),
    ],
)
def test_label_map_beyond_pythons_limits(tmp_path, content, line, fragment):
    path = tmp_path / "map.json"
    path.write_text(content, encoding="utf8")
    with pytest.raises(R.ConversionError) as err:
        read_label_map(path)
    assert f"{path}:{line}: invalid JSON" in str(err.value) and fragment in str(err.value)


def test_malformed_brat_line(nlp, tmp_path):
    (tmp_path / "a.txt").write_text("发热", encoding="utf8")
    (tmp_path / "a.ann").write_text("T1\tSYM 0 2\t发热\nT2\tSYM zero 2\t发热\n", encoding="utf8")
    with pytest.raises(R.ConversionError, match=r"a\.ann:2: malformed offsets"):
        C.convert(nlp, tmp_path, "brat")


def test_json_errors_count_lines_as_an_editor_does(nlp, tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\r {"data": {"text": "x"}},\r {"data": 1}\r]', encoding="utf8")
    with pytest.raises(R.ConversionError, match=r"a\.json:3: 'data' must be an object"):
        C.convert(nlp, path, "label-studio")
    assert json.loads(path.read_text(encoding="utf8"))  # valid JSON: only the type is wrong
