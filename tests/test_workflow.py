"""The whole workflow, end to end, on the embedded corpus with a few training steps."""

import json
import subprocess
import sys

import pytest
import srsly

from zh_medner.labels import LABELS

from .conftest import ROOT

# one xdist worker builds the workflow (a session fixture) and runs every test that reads it
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]


def test_all_builds_a_checked_wheel(workflow_project):
    wheels = list((workflow_project / "packages").glob("zh_medner_trf-*/dist/zh_medner_trf-*.whl"))
    assert len(wheels) == 1
    log = (workflow_project / "workflow.log").read_text(encoding="utf8")
    assert "wheel OK: loads offline" in log  # the check-wheel step ran and passed


def test_conversion_report_accounts_for_every_entity(workflow_project):
    report = json.loads(
        (workflow_project / "corpus" / "train.report.json").read_text(encoding="utf8")
    )
    assert report["kept"] + report["dropped"] == report["entities_in"] > 0
    assert set(report["per_label"]) == set(LABELS)
    assert report["train_docs"] > 0 and report["dev_docs"] > 0


def test_evaluation_writes_scores_and_per_label_table(workflow_project):
    scores = srsly.read_json(workflow_project / "metrics" / "ner.json")
    assert {"flat", "official", "chars_per_second"} <= set(scores)
    assert "per_type" in scores["official"]
    table = (workflow_project / "metrics" / "ner_per_label.md").read_text(encoding="utf8")
    assert (
        "| label | P | R | F1 | support |" in table
        and "ALL (micro)" in table
        and "Official CMeEE" in table
    )


def test_wheel_meta_declares_its_requirements(workflow_project):
    meta = srsly.read_json(next((workflow_project / "packages").glob("zh_medner_trf-*/meta.json")))
    reqs = " ".join(meta["requirements"])
    assert "spacy-transformers" in reqs
    # the components travel inside the wheel: no requirement on the (unpublished) library
    assert not [r for r in meta["requirements"] if r.lower().startswith(("zh-medner", "zh_medner"))]
    assert meta["name"] == "medner_trf" and meta["lang"] == "zh"


def test_train_refuses_a_missing_encoder_with_a_clear_message(tmp_path):
    (tmp_path / "encoders").mkdir()  # as in the project: a typo in the folder name, not a hub id
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_encoder.py"), "encoders/does-not-exist"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "encoder directory not found: 'encoders/does-not-exist'" in " ".join(
        (result.stdout + result.stderr).split()
    )
