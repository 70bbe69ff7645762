"""zh_medner/evaluation/probe.py: BIO tags in and out, and a probe run on a tiny encoder."""

import subprocess
import sys

import spacy

from zh_medner.evaluation.probe import bio_tags, decode, probe

from .conftest import ROOT

LABELS = ["DIS", "SYM"]


def doc_with(text, ents):
    doc = spacy.blank("zh").make_doc(text)
    doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
    return doc


def test_bio_round_trip():
    doc = doc_with("慢性胃炎伴胃痛", [(0, 4, "DIS"), (5, 7, "SYM")])
    tags = bio_tags(doc, LABELS)
    assert tags.tolist() == [1, 2, 2, 2, 0, 3, 4]
    assert decode(doc.text, tags, LABELS) == {(0, 4, "DIS"), (5, 7, "SYM")}


def test_decode_starts_a_span_at_a_dangling_inside_tag():
    assert decode("甲乙丙", [2, 2, 0], LABELS) == {(0, 2, "DIS")}
    assert decode("甲乙丙", [1, 4, 4], LABELS) == {(0, 1, "DIS"), (1, 3, "SYM")}


def test_probe_runs_and_scores_on_a_tiny_encoder(tmp_path):
    encoder = tmp_path / "enc"
    args = ["--hidden", "32", "--layers", "1", "--heads", "2", "--intermediate", "64"]
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_random_encoder.py"), str(encoder), *args],
        check=True,
        capture_output=True,
    )
    docs = [doc_with("患者胃炎伴胃痛。", [(2, 4, "DIS"), (5, 7, "SYM")])] * 20
    scores = probe(str(encoder), docs, docs[:5], LABELS, epochs=30)
    assert 0.0 <= scores["f"] <= 1.0 and scores["support"] == 10 and scores["train_chars"] == 160
