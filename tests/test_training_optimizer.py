"""zh_medner.Adam_layerwise.v1 (zh_medner/training/optimizer.py): per-layer learning rates."""

import numpy
import pytest
from spacy.util import registry

from zh_medner.training.optimizer import encoder_depth


@pytest.mark.parametrize(
    "name, depth",
    [
        ("embeddings.word_embeddings.weight", 0),
        ("encoder.layer.0.attention.self.query.weight", 1),
        ("encoder.layer.11.output.dense.bias", 12),
        ("qk.weight", None),  # the span head
        ("E", None),  # a thinc layer
    ],
)
def test_depth_from_the_parameter_name(name, depth):
    assert encoder_depth(name) == depth


def make(**kwargs):
    return registry.optimizers.get("zh_medner.Adam_layerwise.v1")(0.1, n_layers=4, **kwargs)


def test_layer_decay_and_encoder_scale():
    opt = make(layer_decay=0.5, encoder_scale=0.2)
    assert opt.scale("qk.weight") == 1.0
    assert opt.scale("encoder.layer.3.x") == pytest.approx(0.2 * 0.5)
    assert opt.scale("encoder.layer.0.x") == pytest.approx(0.2 * 0.5**4)
    assert opt.scale("embeddings.x") == pytest.approx(0.2 * 0.5**5)


def step(opt, name):
    weights = numpy.ones(4, dtype="float32")
    new, _ = opt((1, name), weights.copy(), numpy.full(4, 0.5, dtype="float32"))
    return float(numpy.abs(new - weights).max())


def test_frozen_layers_do_not_move_and_the_rest_does():
    opt = make(frozen_layers=2)  # the embeddings and layer 0
    assert step(opt, "embeddings.x") == 0.0
    assert step(opt, "encoder.layer.0.x") == 0.0
    assert step(opt, "encoder.layer.1.x") > 0.0
    assert step(opt, "qk.weight") > 0.0


def test_a_smaller_scale_moves_the_weights_less():
    assert step(make(encoder_scale=0.1), "encoder.layer.1.x") < step(make(), "encoder.layer.1.x")
