"""zh_medner/evaluation/ner.py's compare_ner and scripts/compare_models.py: two pipelines on the
same gold docs, paired by doc."""

import spacy
import srsly
import typer
from spacy.tokens import DocBin
from typer.testing import CliRunner

from zh_medner.evaluation.ner import compare_ner

from .conftest import load_script

FEVER = {"label": "SYM", "pattern": "发热"}
COUGH = {"label": "SYM", "pattern": "咳嗽"}


def ruler(*patterns):
    nlp = spacy.blank("zh")
    nlp.add_pipe("entity_ruler").add_patterns(list(patterns))
    return nlp


def gold_docs(vocab_nlp, n=10):
    docs = []
    for i in range(n):
        doc = vocab_nlp.make_doc("发热伴咳嗽" if i % 2 else "咳嗽。")
        cough = doc.text.index("咳嗽")
        ents = [doc.char_span(cough, cough + 2, label="SYM")]
        if i % 2:
            ents.insert(0, doc.char_span(0, 2, label="SYM"))
        doc.ents = ents
        docs.append(doc)
    return docs


def test_compare_ner_scores_both_and_the_paired_difference():
    a, b = ruler(FEVER), ruler(FEVER, COUGH)  # B also finds every cough
    result = compare_ner(a, b, gold_docs(a))
    official = result["official"]
    assert result["docs"] == 10
    assert official["a"] == 2 * 5 / (2 * 5 + 10) and official["b"] == 1.0
    low, high = official["interval"]
    assert 0 < low <= official["b"] - official["a"] <= high  # B wins in every resample
    assert official["b_better"] == 1.0 and official["b_interval"] == (1.0, 1.0)
    assert result["flat"]["b"] == 1.0
    same = compare_ner(a, a, gold_docs(a))["official"]
    assert same["interval"] == (0.0, 0.0) and same["b_better"] == 0.0


def test_script_prints_and_writes_the_comparison(tmp_path):
    a, b = ruler(FEVER), ruler(FEVER, COUGH)
    a.to_disk(tmp_path / "a")
    b.to_disk(tmp_path / "b")
    DocBin(docs=gold_docs(a)).to_disk(tmp_path / "dev.spacy")
    app = typer.Typer()
    app.command()(load_script("compare_models").main)
    out = tmp_path / "cmp.json"
    args = [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "dev.spacy")]
    result = CliRunner().invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "+50.00" in result.output and "100%" in result.output
    assert srsly.read_json(out)["official"]["b"] == 1.0

    result = CliRunner().invoke(app, [*args[:2], str(tmp_path / "missing.spacy")])
    assert result.exit_code == 1
    assert "missing.spacy: no such file" in " ".join(result.output.split())
    # a wrong B is refused before A loads
    result = CliRunner().invoke(app, [args[0], str(tmp_path / "nope"), args[2]])
    assert result.exit_code == 1
    assert "no pipeline folder or installed package" in " ".join(result.output.split())
