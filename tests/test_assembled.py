"""The assembled pipeline: span head, drug dictionary, sentence splitting, clinical context."""

import pytest
import spacy

from zh_medner.evaluation.gold import run_rules

# one xdist worker builds the workflow (a session fixture) and runs every test that reads it
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]

TEXT = "患者否认糖尿病史，今日出现发热，考虑肺炎，予阿莫西林胶囊口服。"
GOLD = [("糖尿病", "DIS"), ("发热", "SYM"), ("肺炎", "DIS")]


@pytest.fixture(scope="module")
def assembled(workflow_project):
    return spacy.load(workflow_project / "pipelines" / "medner_trf")


def with_gold_findings(nlp, text, gold):
    """Run the clinical layer on gold findings, so the test does not depend on a few-step model."""
    doc = nlp.make_doc(text)
    doc.ents = [
        doc.char_span(text.index(t), text.index(t) + len(t), label=label) for t, label in gold
    ]
    return run_rules(nlp, doc)


def test_pipeline_order(assembled):
    assert assembled.pipe_names == [
        "transformer",
        "span_head",
        "entity_ruler",
        "sentencizer",
        "context",
    ]


def test_negated_and_affirmed_findings_in_one_text(assembled):
    doc = with_gold_findings(assembled, TEXT, GOLD)
    status = {e.text: (e._.negex, e._.uncertain) for e in doc.ents}
    assert status["糖尿病"] == (True, False)
    assert status["发热"] == (False, False)
    assert status["肺炎"] == (False, True)


def test_ruler_adds_the_drug_with_its_generic_id(assembled):
    doc = with_gold_findings(assembled, TEXT, GOLD)
    drugs = [e for e in doc.ents if e.label_ == "DRU"]
    assert [d.text for d in drugs] == ["阿莫西林胶囊"]
    assert drugs[0].ent_id_ == "阿莫西林"


def test_full_pipeline_runs_on_a_long_record(assembled):
    doc = assembled(TEXT * 130)  # over 4000 characters: strided windows, no length error
    assert len(doc) == len(TEXT) * 130 > 4000
    assert any(e.label_ == "DRU" for e in doc.ents)


def test_nested_spans_and_analyze_pipes(assembled):
    doc = assembled("患者否认高血压病史。")
    assert "sc" in doc.spans
    analysis = assembled.analyze_pipes()
    assert not any(analysis["problems"].values()), analysis["problems"]
