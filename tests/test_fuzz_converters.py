"""Property tests for every converter: nothing lost, nothing silent, nothing half-written.

For random texts (CJK, ASCII, whitespace, CR/LF, emoji, BOM) and random entities (valid,
out of range, empty, reversed, overlapping, nested, duplicated, wrong labels and wrong
surface texts), written in each format with random BOMs and line endings:
- each input entity is kept or reported: kept + dropped == in;
- each kept span is an input entity, and its text is that entity's text in the input;
- a corrupted file either converts cleanly or fails with a message (no traceback), and a
  failure leaves the previous outputs exactly as they were, with no temporaries beside them.
"""

import json
import re
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from spacy.tokens import DocBin

from zh_medner.annotations.records import DROP_REASONS
from zh_medner.corpus import docbin as C
from zh_medner.labels import LABELS

from .conftest import load_script

FORMATS = ["label-studio", "brat", "jsonl", "cmeee", "conll", "doccano"]
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
WRONG_LABELS = ["", "sym", "XYZ", "其他"]
LABEL_MAP = {"其他": None, "XYZ": "DIS"}
SPECIAL = list("发热咳嗽头痛高血压糖尿病左肺阴性abcXYZ019.%- \t\u3000\xa0\r\n😀🩺\ufeff，。")
CHARS = st.one_of(
    st.sampled_from(SPECIAL), st.characters(exclude_categories=("Cs",), max_codepoint=0x1FFFF)
)
# CoNLL holds one character per line, before a space: no line breaks, spaces, tabs or a BOM
NOT_CONLL = " \t\r\n\ufeff"
CONLL_CHARS = st.one_of(
    st.sampled_from([c for c in SPECIAL if c not in NOT_CONLL]),
    st.characters(exclude_categories=("Cs",), exclude_characters=NOT_CONLL, max_codepoint=0x1FFFF),
)


@dataclass
class Ent:
    start: int
    end: int
    label: str
    surface: str | None = None


@dataclass
class Rec:
    text: str
    ents: list[Ent] = field(default_factory=list)


@st.composite
def entities(draw, text: str, lowest: int = -2) -> list[Ent]:
    n = len(text)
    ents = []
    for _ in range(draw(st.integers(0, 6))):
        if n and draw(st.booleans()):
            start = draw(st.integers(0, n - 1))
            end = draw(st.integers(start + 1, n))
        else:  # anything: out of range, empty, reversed
            start, end = draw(st.integers(lowest, n + 2)), draw(st.integers(lowest, n + 2))
        label = draw(st.sampled_from(LABELS + tuple(WRONG_LABELS)))
        kind = draw(st.sampled_from(["right", "wrong", "none"]))
        surface = {"right": text[max(start, 0) : max(end, 0)], "wrong": "错", "none": None}[kind]
        ents.append(Ent(start, end, label, surface))
    return ents


@st.composite
def records(draw, chars=CHARS, lowest: int = -2) -> list[Rec]:
    recs = []
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.text(chars, min_size=1, max_size=24))
        recs.append(Rec(text, draw(entities(text, lowest))))
    return recs


def raw_crs(line: str) -> str:
    """JSON text with each escaped \\r inside strings written as a raw CR."""
    return re.sub(r"(?<!\\)((?:\\\\)*)\\r", lambda m: m.group(1) + "\r", line)


# --- writers: each writes records in one format and returns the path to convert ----------


def write_jsonl(draw, folder: Path, recs: list[Rec]) -> Path:
    lines = []
    for rec in recs:
        key = draw(st.sampled_from(["label", "category"]))
        ents = []
        for e in rec.ents:
            item = {"start": e.start, "end": e.end, key: e.label}
            if e.surface is not None:
                item["text"] = e.surface
            ents.append(item)
        line = json.dumps({"text": rec.text, "entities": ents}, ensure_ascii=draw(st.booleans()))
        lines.append(raw_crs(line) if draw(st.booleans()) else line)
    return write_lines(draw, folder / "in.jsonl", lines)


def write_lines(draw, path: Path, lines: list[str]) -> Path:
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    path.write_bytes(b"\xef\xbb\xbf" * draw(st.booleans()) + text.encode())
    return path


def write_json_array(draw, path: Path, items: list) -> Path:
    text = json.dumps(
        items, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))
    )
    text = text.replace("\n", draw(st.sampled_from(["\n", "\r\n", "\r"])))  # structural only
    path.write_bytes(b"\xef\xbb\xbf" * draw(st.booleans()) + text.encode())
    return path


def write_cmeee(draw, folder: Path, recs: list[Rec]) -> Path:
    items = []
    for rec in recs:
        ents = []
        for e in rec.ents:
            e.label = e.label.lower().upper()  # what the reader makes of the lower-case type
            item = {"start_idx": e.start, "end_idx": e.end - 1, "type": e.label.lower()}
            if e.surface is not None:
                item["entity"] = e.surface
            ents.append(item)
        items.append({"text": rec.text, "entities": ents})
    if draw(st.booleans()):
        return write_json_array(draw, folder / "in.json", items)
    lines = [json.dumps(item, ensure_ascii=draw(st.booleans())) for item in items]
    return write_lines(draw, folder / "in.jsonl", lines)


def write_doccano(draw, folder: Path, recs: list[Rec]) -> Path:
    lines = []
    for rec in recs:
        obj = {"text": rec.text}
        if draw(st.booleans()):
            obj["label"] = [[e.start, e.end, e.label] for e in rec.ents]
        else:
            obj["entities"] = [
                {"start_offset": e.start, "end_offset": e.end, "label": e.label} for e in rec.ents
            ]
        for e in rec.ents:
            e.surface = None  # doccano stores no surface text
        lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
    return write_lines(draw, folder / "in.jsonl", lines)


def write_label_studio(draw, folder: Path, recs: list[Rec]) -> Path:
    tasks = []
    for rec in recs:
        results = [{"type": "relation", "from_id": "a", "to_id": "b"}] * draw(st.booleans())
        for e in rec.ents:
            value = {"start": e.start, "end": e.end, "labels": [e.label] if e.label else []}
            if e.surface is not None:
                value["text"] = e.surface
            results.append({"type": "labels", "value": value})
        tasks.append({"data": {"text": rec.text}, "annotations": [{"result": results}]})
    return write_json_array(draw, folder / "in.json", tasks)


def write_brat(draw, folder: Path, recs: list[Rec]) -> Path:
    """Offsets as the brat server counts them (BOM as a character, \\r\\n once) or as scripts do."""
    folder = folder / "brat"
    folder.mkdir()
    for i, rec in enumerate(recs):
        bom = draw(st.booleans())
        counted = rec.text.replace("\r\n", "\n") if draw(st.booleans()) else rec.text
        counted = "\ufeff" * (bom and draw(st.booleans())) + counted
        (folder / f"{i}.txt").write_bytes(b"\xef\xbb\xbf" * bom + rec.text.encode())
        rec.ents = draw(entities(counted, lowest=0))  # BRAT offsets are never negative
        lines = []
        for j, e in enumerate(rec.ents):
            e.label = e.label or "SYM"  # an empty label makes a malformed line
            e.surface = re.sub("[\r\n]", " ", e.surface if e.surface is not None else "错")
            lines.append(f"T{j + 1}\t{e.label} {e.start} {e.end}\t{e.surface}")
        lines.append("#1\tAnnotatorNotes T1\tnot an entity")
        write_lines(draw, folder / f"{i}.ann", lines)
    return folder


def write_conll(draw, folder: Path, recs: list[Rec]) -> Path:
    lines = []
    bioes = draw(st.booleans())
    for rec in recs:
        # entities that do not overlap: BIO cannot write any other kind
        cuts = sorted(set(draw(st.lists(st.integers(0, len(rec.text)), max_size=8))))
        rec.ents = []
        tags = ["O"] * len(rec.text)
        for start, end in zip(cuts, cuts[1:]):
            if draw(st.booleans()):
                continue
            label = draw(st.sampled_from(LABELS + ("XYZ", "其他")))
            rec.ents.append(Ent(start, end, label, rec.text[start:end]))
            for k in range(start, end):
                prefix = "B" if k == start else "I"
                if bioes:
                    prefix = "S" if end - start == 1 else "E" if k == end - 1 else prefix
                tags[k] = f"{prefix}-{label}"
        sep = draw(st.sampled_from([" ", "\t", " x "]))
        lines += [f"{c}{sep}{t}" for c, t in zip(rec.text, tags)] + [""]
    return write_lines(draw, folder / "in.conll", lines)


WRITERS = {
    "label-studio": write_label_studio,
    "brat": write_brat,
    "jsonl": write_jsonl,
    "cmeee": write_cmeee,
    "conll": write_conll,
    "doccano": write_doccano,
}


def generate(data, fmt: str, folder: Path) -> tuple[Path, list[Rec]]:
    recs = data.draw(records(CONLL_CHARS if fmt == "conll" else CHARS))
    return WRITERS[fmt](data.draw, folder, recs), recs


# --- properties ---------------------------------------------------------------------------


def expected_label(label: str, label_map: dict | None) -> str:
    return label_map[label] if label_map and label_map.get(label) else label


def check_accounting(fmt, docs, report, recs, label_map):
    assert report.entities_in == sum(len(r.ents) for r in recs)
    assert report.kept + len(report.drops) == report.entities_in
    assert {d.reason for d in report.drops} <= set(DROP_REASONS)
    assert all(d.line >= 1 and d.path for d in report.drops)
    assert len(docs) == report.records == len(recs)
    assert sum(len(doc.spans[C.SPANS_KEY]) for doc in docs) == report.kept
    for doc, rec in zip(docs, recs):
        assert set(doc.ents) <= set(doc.spans[C.SPANS_KEY])
        inputs = [(e, expected_label(e.label, label_map)) for e in rec.ents]
        if fmt == "brat":  # offsets depend on the reading the reader chose: match by text
            assert doc.text in (rec.text, rec.text.replace("\r\n", "\n"))
            for span in doc.spans[C.SPANS_KEY]:
                assert any(lab == span.label_ and e.surface == span.text for e, lab in inputs)
            continue
        assert doc.text == rec.text
        for span in doc.spans[C.SPANS_KEY]:
            s, t = span.start_char, span.end_char
            assert any((e.start, e.end, lab) == (s, t, span.label_) for e, lab in inputs)
            assert span.text == rec.text[s:t]


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=200, **SETTINGS)
@given(data=st.data(), label_map=st.sampled_from([None, LABEL_MAP]))
def test_every_entity_is_kept_or_reported(nlp, fmt, data, label_map):
    with tempfile.TemporaryDirectory() as tmp:
        path, recs = generate(data, fmt, Path(tmp))
        docs, report = C.convert(nlp, path, fmt, label_map=label_map)
        check_accounting(fmt, docs, report, recs, label_map)
        event(f"kept: {bool(report.kept)}, nested: {bool(sum(report.spans_only.values()))}")
        for reason in {d.reason for d in report.drops}:
            event(f"dropped: {reason}")


@pytest.fixture(scope="module")
def convert_script(nlp):
    """scripts/convert.py, its blank pipeline made once (spacy.blank takes 0.2 s)."""
    module = load_script("convert")
    module.spacy = types.SimpleNamespace(blank=lambda lang: nlp)
    return module


CORRUPTIONS = [b"\xff", "发热".encode("gbk"), b"\x00", b"{", b"]", b"\n", b"\r", b"T1\t", b" "]


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=100, **SETTINGS)
@given(data=st.data(), split=st.booleans())
def test_a_corrupted_file_converts_or_changes_nothing(convert_script, fmt, data, split):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        path, _ = generate(data, fmt, tmp / "in")
        victim = path if path.is_file() else data.draw(st.sampled_from(sorted(path.iterdir())))
        raw = victim.read_bytes()
        at = data.draw(st.integers(0, len(raw)))
        how = data.draw(st.sampled_from(["truncate", "insert", "delete"]))
        if how == "truncate":
            raw = raw[:at]
        elif how == "insert":
            raw = raw[:at] + data.draw(st.sampled_from(CORRUPTIONS)) + raw[at:]
        else:
            raw = raw[:at] + raw[at + data.draw(st.integers(1, 8)) :]
        victim.write_bytes(raw)
        out = tmp / "out"
        out.mkdir()
        for name in ("train.spacy", "dev.spacy", "train.report.json"):
            (out / name).write_bytes(b"a good output of an earlier run")
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        try:
            convert_script.main(
                path,
                out / "train.spacy",
                fmt,
                label_map=None,
                dev_output=out / "dev.spacy" if split else None,
                dev_ratio=0.5 if split else 0.0,
                dev_block=1,
                seed=0,
                encoding="utf-8",
                allow_empty=False,
            )
        except SystemExit as e:
            event(f"refused ({how})")
            assert e.code == 1
            assert {p.name: p.read_bytes() for p in out.iterdir()} == before
            return
        event(f"converted ({how})")
        after = {p.name for p in out.iterdir()}
        assert after == {"train.spacy", "dev.spacy", "train.report.json"}
        report = json.loads((out / "train.report.json").read_text(encoding="utf8"))
        assert report["kept"] + report["dropped"] == report["entities_in"]
        names = ["train.spacy", "dev.spacy"] if split else ["train.spacy"]
        n_docs = sum(len(DocBin().from_disk(out / name)) for name in names)
        assert n_docs == report["records"] == report["train_docs"] + report["dev_docs"]
