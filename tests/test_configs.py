"""The three transformer configs (configs/ner_trf*.cfg) differ only where they mean to: the
entity component and its score weights, the lexicon features. Everything else (the encoder,
its windows and precision, the corpora, the training loop, the optimizer, the batcher) is one
block that a change to ner_trf.cfg must make in the others too."""

import pytest
from thinc.api import Config

from .conftest import ROOT

BASE = "ner_trf.cfg"
OTHERS = ["ner_trf_lexicon.cfg", "ner_trf_transition.cfg"]
# the settings each config is meant to choose for itself
OWN = ("nlp.pipeline", "training.score_weights.", "initialize.components.", "paths.lexicon")
COMMON = ("paths.", "system.", "nlp.", "components.transformer.", "corpora.", "training.")


def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings(name: str) -> dict:
    return flat(Config().from_disk(ROOT / "configs" / name, interpolate=False))


@pytest.mark.parametrize("other", OTHERS)
def test_the_transformer_configs_share_their_common_blocks(other):
    base, config = settings(BASE), settings(other)
    common = {k for k in base.keys() | config.keys() if k.startswith(COMMON)}
    common = {k for k in common if not k.startswith(OWN)} | {"initialize.vectors"}
    differ = sorted(k for k in common if base.get(k, "missing") != config.get(k, "missing"))
    assert not differ, f"{other} differs from {BASE} in shared settings: {differ}"
    assert len(common) > 40  # the encoder, corpora and training blocks, not a handful


def test_the_lexicon_config_is_the_span_head_config_plus_lexicon_features():
    base, lexicon = settings(BASE), settings("ner_trf_lexicon.cfg")
    head = {k for k in base.keys() & lexicon.keys() if k.startswith("components.span_head.")}
    assert {k for k in head if base[k] != lexicon[k]} == set()
    assert "components.span_head.model.max_length" in head
