"""Error report (zh_medner/evaluation/error_report.py, scripts/error_report.py): errors by kind,
the numbers of the official metric, a self-contained page, and the page in Chromium."""

import re
import subprocess
import sys
from collections import Counter

import pytest
from spacy.tokens import DocBin

from zh_medner.components.span_choice import SPANS_KEY, flat_choice
from zh_medner.evaluation.error_report import KINDS, Error, analyse, classify, render_report
from zh_medner.evaluation.ner import micro_scores

from .browser import SCREENSHOTS, chromium
from .conftest import ROOT
from .serving_pipeline import blank, save_small_pipeline

# (text, gold, predicted): every kind of error, nested spans and one exact doc
CASES = [
    (
        "患者胃痛三天，考虑胃炎。",
        [(2, 6, "SYM"), (9, 11, "SYM")],
        [(2, 4, "SYM"), (9, 11, "DIS")],  # wrong boundary, wrong label
    ),
    (
        "患者慢性肺炎伴咳嗽两周。",
        [(2, 6, "DIS"), (4, 6, "DIS"), (7, 9, "SYM")],
        [(2, 6, "DIS"), (4, 6, "DIS")],  # nested right, 咳嗽 missed
    ),
    (
        "无发热，复查血常规及肝功能。",
        [(0, 3, "DIS"), (10, 13, "ITE")],
        [(1, 3, "SYM"), (6, 9, "ITE")],  # label and boundary; 血常规 spurious; 肝功能 missed
    ),
    ("患者高血压十年。", [(2, 5, "DIS")], [(2, 5, "DIS")]),
]


def make_doc(nlp, text, triples):
    doc = nlp.make_doc(text)
    spans = [doc.char_span(s, e, label=label) for s, e, label in triples]
    doc.spans[SPANS_KEY] = spans
    doc.ents = flat_choice(spans)
    return doc


@pytest.fixture(scope="module")
def analysis():
    nlp = blank()
    gold = [make_doc(nlp, text, g) for text, g, _ in CASES]
    pred = [make_doc(nlp, text, p) for text, _, p in CASES]
    return analyse(pred, gold)


def test_each_kind_of_error():
    assert classify({(2, 4, "SYM"), (9, 11, "DIS")}, {(2, 6, "SYM"), (9, 11, "SYM")}) == [
        Error("wrong label", 0, (9, 11, "SYM"), (9, 11, "DIS")),
        Error("wrong boundary", 0, (2, 6, "SYM"), (2, 4, "SYM")),
    ]
    errors = classify({(1, 3, "SYM"), (6, 9, "ITE")}, {(0, 3, "DIS"), (10, 13, "ITE")}, doc=4)
    assert errors == [
        Error("wrong label and boundary", 4, (0, 3, "DIS"), (1, 3, "SYM")),
        Error("missed", 4, (10, 13, "ITE"), None),
        Error("spurious", 4, None, (6, 9, "ITE")),
    ]
    assert classify({(0, 2, "DIS")}, {(0, 2, "DIS")}) == []


def test_a_prediction_pairs_with_one_gold_entity_the_largest_overlap_first():
    gold = {(0, 4, "DIS"), (2, 8, "DIS")}
    errors = classify({(1, 7, "DIS")}, gold)
    assert errors == [
        Error("wrong boundary", 0, (2, 8, "DIS"), (1, 7, "DIS")),
        Error("missed", 0, (0, 4, "DIS"), None),
    ]


def test_errors_add_up_to_the_official_metric(analysis):
    kinds = Counter(e.kind for e in analysis.errors)
    assert kinds == {
        "wrong label": 1,
        "wrong boundary": 1,
        "wrong label and boundary": 1,
        "missed": 2,
        "spurious": 1,
    }
    exact = sum(len(p & g) for p, g in zip(analysis.pred, analysis.gold))
    paired = sum(e.gold is not None and e.pred is not None for e in analysis.errors)
    assert exact + paired + kinds["missed"] == sum(map(len, analysis.gold))
    assert exact + paired + kinds["spurious"] == sum(map(len, analysis.pred))
    assert analysis.official == micro_scores(zip(analysis.pred, analysis.gold))
    assert analysis.official["p"] == pytest.approx(3 / 7) and exact == 3


def test_confusion_counts_swaps_misses_and_spurious(analysis):
    c = analysis.confusion
    assert c[("SYM", "DIS")] == 1 and c[("DIS", "SYM")] == 1  # the two label swaps
    assert c[("SYM", "(none)")] == 1 and c[("ITE", "(none)")] == 1
    assert c[("(none)", "ITE")] == 1
    assert c[("DIS", "DIS")] == 3  # exact matches with the same label


def test_the_page_holds_chart_confusion_kinds_and_side_by_side(analysis):
    page = render_report(analysis, "test <report>", max_docs=2, max_examples=1)
    assert page.startswith("<!DOCTYPE html>") and "test &lt;report&gt;" in page
    # self-contained: no script, stylesheet, image or link to anywhere else
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r'(?:src|href)="(?!#)', page)
    # bar chart: P, R, F1 per label, bar lengths proportional to the score (420 px = 100)
    svg = page[page.index("<svg") : page.index("</svg>")]
    bars = re.findall(r'<rect x="150" y="[\d.]+" width="([\d.]+)"[^>]*><title>(\w+) (P|R|F1) ', svg)
    assert {(label, name) for _, label, name in bars} == {
        (label, name) for label in ("DIS", "SYM", "ITE") for name in ("P", "R", "F1")
    }
    sym_r = analysis.official["per_type"]["SYM"]["r"]
    assert dict(((lab, n), float(w)) for w, lab, n in bars)[("SYM", "R")] == pytest.approx(
        420 * sym_r, abs=0.1
    )
    assert 'title="gold SYM, predicted DIS">1</td>' in page  # a label swap in the table
    for kind in KINDS:
        assert f">{kind} (" in page
    assert page.count("more not shown") == 1  # max_examples=1: 2 missed, 1 shown
    assert "more docs with errors not shown" in page  # max_docs=2 of 3 docs with errors
    # side by side: gold and predicted displaCy markup, errors outlined
    # docs 2 and 0 (the most errors): every entity of theirs is in error, outlined
    assert page.count('class="entity error"') == 8


@pytest.fixture(scope="module")
def report_files(tmp_path_factory):
    """The script run on the small pipeline and a dev set in .spacy format."""
    tmp = tmp_path_factory.mktemp("report")
    model = save_small_pipeline(tmp / "medner_test")
    nlp = blank()
    DocBin(docs=[make_doc(nlp, text, g) for text, g, _ in CASES], store_user_data=True).to_disk(
        tmp / "dev.spacy"
    )
    out = tmp / "report.html"
    result = subprocess.run(
        [sys.executable, ROOT / "scripts" / "error_report.py", model, tmp / "dev.spacy", out],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp, model, out, result.stdout


def test_the_script_writes_the_report(report_files):
    tmp, model, out, stdout = report_files
    page = out.read_text(encoding="utf8")
    assert "Error report" in page and "<svg" in page and "official F1" in stdout
    assert "dev.spacy (4 docs)" in page
    bad = subprocess.run(
        [sys.executable, ROOT / "scripts" / "error_report.py", model, tmp / "no.spacy", out],
        capture_output=True,
        text=True,
    )
    # wasabi wraps the message at the terminal's width: compare it as one line
    assert bad.returncode == 1 and "no.spacy: no such file" in " ".join(bad.stdout.split())


def test_the_report_opens_in_chromium(report_files, tmp_path):
    _, _, out, _ = report_files
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(out.as_uri())
        assert page.locator("svg rect").count() >= 3
        assert page.locator("table.side mark.entity").count() >= 4
        assert page.locator("h3").count() == len(KINDS)
        box = page.locator("svg").bounding_box()
        assert box["width"] > 400 and box["height"] > 50  # laid out, not collapsed
        shot = tmp_path / "error_report.png"
        page.screenshot(path=str(shot), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "error_report.png").write_bytes(shot.read_bytes())
        assert shot.stat().st_size > 10_000
