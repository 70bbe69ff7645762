"""zh_context_learned (zh_medner/components/context_learned.py): windows, verdicts, cues and
loading, on a tiny random encoder with a hand-set layer (what it learns is measured in
docs/results.md, by scripts/context_classifier.py)."""

import pytest
import spacy
import torch

from zh_medner.components.context_learned import CLASSES, WindowEncoder, window, write_classifier
from zh_medner.encoder.random_init import build_random_encoder
from zh_medner.evaluation.gold import run_rules

from .test_components_context import build, parse

HIDDEN = 32


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enc")
    build_random_encoder(folder, hidden=HIDDEN, layers=1, heads=2, intermediate=64)
    return WindowEncoder(folder)


def classifier(folder, encoder, favour: str):
    """A layer that always answers `favour`: no weights, one bias."""
    width = 4 * HIDDEN + 3
    bias = torch.zeros(len(CLASSES))
    bias[CLASSES.index(favour)] = 1.0
    head = {"weight": torch.zeros(len(CLASSES), width), "bias": bias,
            "mean": torch.zeros(width), "std": torch.ones(width)}  # fmt: skip
    write_classifier(folder, encoder, head, {"left": 96, "right": 32})
    return folder


def pipeline(path, **config):
    nlp = build()
    nlp.add_pipe("zh_context_learned", config=config).initialize(path=str(path))
    return nlp


def annotate(nlp, marked):
    text, ents = parse(marked)
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(s, e, label=label) for s, e, label, _ in ents]
    return run_rules(nlp, doc)


def test_window_reads_the_line_before_and_stops_at_the_line_end():
    text = "医生：发烧吗？\n患者：没有发烧，咳嗽\n医生：好"
    start = text.index("发烧，")
    lo, hi = window(text, start, start + 2, left=96, right=32)
    assert text[lo:hi] == "医生：发烧吗？\n患者：没有发烧，咳嗽"
    assert text[slice(*window(text, start, start + 2, left=2, right=1))] == "没有发烧，"


def test_features_do_not_depend_on_the_batch(encoder):
    items = [("没有发热", 2, 4), ("患者自述咳嗽三天，伴有少量白痰", 4, 6), ("头痛", 0, 2)]
    together = encoder(items, batch_size=8)
    alone = torch.cat([encoder([item]) for item in items])
    assert together.shape == (3, 4 * HIDDEN)
    assert torch.allclose(together, alone, atol=1e-5)


def test_sets_only_its_attributes_and_shows_its_cue(tmp_path, encoder):
    nlp = pipeline(classifier(tmp_path / "clf", encoder, "uncertain"))
    doc = annotate(nlp, "患者没有[发热/SYM/n]，[咳嗽/SYM/a]")
    fever, cough = doc.ents
    assert fever._.negated and fever._.uncertain  # negation stays the rules'
    assert cough._.uncertain and not cough._.negated
    assert {
        "attribute": "uncertain",
        "cue": "<learned>",
        "start": 7,
        "end": 9,
    } in cough._.context_cues
    assert [c["cue"] for c in fever._.context_cues if c["attribute"] == "negated"] == ["没有"]


def test_a_cleared_attribute_loses_its_rule_cues(tmp_path, encoder):
    nlp = pipeline(classifier(tmp_path / "clf", encoder, "affirmed"))
    doc = annotate(nlp, "怀疑[肺炎/DIS/u]")
    (ent,) = doc.ents
    assert not ent._.uncertain
    assert all(c["attribute"] != "uncertain" for c in ent._.context_cues)


def test_saves_and_loads_without_pickle(tmp_path, encoder):
    nlp = pipeline(classifier(tmp_path / "clf", encoder, "negated"), attributes=["negated"])
    nlp.to_disk(tmp_path / "nlp")
    files = [p for p in (tmp_path / "nlp" / "zh_context_learned").rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".json", ".safetensors", ".txt"}
    loaded = spacy.load(tmp_path / "nlp")
    (ent,) = annotate(loaded, "[咳嗽/SYM/a]").ents
    assert ent._.negated and ent._.negex
    again = (
        spacy.blank("zh")
        .add_pipe("zh_context_learned")
        .from_bytes(loaded.get_pipe("zh_context_learned").to_bytes())
    )
    assert torch.equal(again.head["bias"], loaded.get_pipe("zh_context_learned").head["bias"])


def test_clear_errors_without_a_classifier_or_with_unknown_attributes(tmp_path):
    nlp = build()
    with pytest.raises(ValueError, match=r"initialize.components.zh_context_learned\] path"):
        nlp.add_pipe("zh_context_learned").initialize()
    with pytest.raises(ValueError, match="has no head.safetensors"):
        nlp.get_pipe("zh_context_learned").initialize(path=str(tmp_path))
    with pytest.raises(ValueError, match="attributes must be among"):
        nlp.add_pipe("zh_context_learned", name="other", config={"attributes": ["family"]})
