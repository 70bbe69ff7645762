"""FGM in the encoder's shim (zh_medner/components/adversarial.py, `adversarial_epsilon`)."""

import copy

import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import ArgsKwargs

from .test_components_span_head import gold_docs
from .test_components_transformer import LISTENER, encoder, with_transformer  # noqa: F401


def shim_of(nlp):
    nlp.initialize()
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    for module in shim._model.modules():  # the same forward twice: no dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout_prob"):  # attention's, passed to sdpa
            module.dropout_prob = 0.0
    return shim


def inputs():
    torch.manual_seed(0)
    ids = torch.randint(5, 30, (3, 7))
    return ArgsKwargs(args=(), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)})


def backward(shim, d_hidden):
    """One training forward and backward with the head's gradient `d_hidden`; the gradients."""
    shim._model.zero_grad()
    output, backprop = shim.begin_update(inputs())
    hidden = output["last_hidden_state"]
    backprop(ArgsKwargs(args=([hidden],), kwargs={"grad_tensors": [d_hidden.clone()]}))
    return {k: p.grad.clone() for k, p in shim._model.named_parameters() if p.grad is not None}


def test_fgm_adds_the_gradient_of_the_forward_on_nudged_embeddings(encoder):  # noqa: F811
    epsilon = 0.5
    shim = shim_of(with_transformer(encoder, precision="fp32", training_precision="fp32"))
    d_hidden = torch.randn(3, 7, shim._model.config.hidden_size)
    weights = copy.deepcopy(shim._model.state_dict())
    clean = backward(shim, d_hidden)

    # by hand: the clean gradient, then the same head gradient through nudged embeddings
    nudged = copy.deepcopy(shim._model)
    grad = clean["embeddings.word_embeddings.weight"]
    nudged.get_input_embeddings().weight.data.add_(grad * (epsilon / grad.norm()))
    nudged.zero_grad()
    again = nudged(**inputs().kwargs).last_hidden_state
    torch.autograd.backward([again], grad_tensors=[d_hidden])
    extra = {k: p.grad for k, p in nudged.named_parameters() if p.grad is not None}

    shim.adversarial_epsilon = epsilon
    fgm = backward(shim, d_hidden)
    for name, value in shim._model.state_dict().items():  # the nudge is taken back
        assert torch.equal(value, weights[name]), name
    for name, value in fgm.items():
        torch.testing.assert_close(value, clean[name] + extra[name], rtol=1e-4, atol=1e-6)
    assert not torch.allclose(
        fgm["encoder.layer.0.output.dense.weight"], clean["encoder.layer.0.output.dense.weight"]
    )


def test_without_a_gradient_there_is_no_second_pass(encoder):  # noqa: F811
    shim = shim_of(with_transformer(encoder, precision="fp32", adversarial_epsilon=1.0))
    d_hidden = torch.zeros(3, 7, shim._model.config.hidden_size)
    grads = backward(shim, d_hidden)
    assert all(torch.count_nonzero(g) == 0 for g in grads.values())


def test_negative_epsilon_is_refused(encoder):  # noqa: F811
    with pytest.raises(ValueError, match="adversarial_epsilon"):
        with_transformer(encoder, adversarial_epsilon=-1.0)


def test_a_pipeline_trains_with_fgm_and_keeps_the_setting_when_saved(encoder, tmp_path):  # noqa: F811
    nlp = with_transformer(encoder, precision="fp32", adversarial_epsilon=1.0)
    nlp.add_pipe("span_head", config={"model": {"max_length": 8, "tok2vec": LISTENER}})
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    optimizer = nlp.initialize(lambda: examples)
    losses = [nlp.update(examples, sgd=optimizer, drop=0.0)["span_head"] for _ in range(15)]
    assert losses[-1] < losses[0]
    nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert loaded.config["components"]["transformer"]["model"]["adversarial_epsilon"] == 1.0
    shim = loaded.get_pipe("transformer").model.layers[0].shims[0]
    assert shim.adversarial_epsilon == 1.0
