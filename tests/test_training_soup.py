"""The weight average of trained pipelines (zh_medner/training/soup.py)."""

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

from zh_medner.training.soup import soup

from .test_components_span_head import blank, gold_docs
from .test_components_transformer import LISTENER, encoder, with_transformer  # noqa: F401


def trained(encoder, path, steps):  # noqa: F811
    fix_random_seed(0)  # one starting point for every run
    nlp = with_transformer(encoder, precision="fp32")
    nlp.add_pipe("span_head", config={"model": {"max_length": 8, "tok2vec": LISTENER}})
    examples = [Example(nlp.make_doc(d.text), d) for d in gold_docs(nlp)]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def runs(encoder, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("soup")
    return trained(encoder, root / "a", 3), trained(encoder, root / "b", 9)


def encoder_weight(nlp):
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    return shim._model.get_input_embeddings().weight.detach().clone()


def head_weights(nlp):
    """The head's torch weights (its pointer runs in a PyTorch shim) as arrays."""
    model = nlp.get_pipe("span_head").model
    shims = [s for n in model.walk() for s in n.shims]
    return [v.detach().numpy().copy() for s in shims for v in s._model.state_dict().values()]


def test_the_soup_is_the_weighted_mean_of_encoder_and_head(runs):
    a, b = (spacy.load(p) for p in runs)
    mixed = soup(runs, [0.25, 0.75])
    torch.testing.assert_close(
        encoder_weight(mixed), 0.25 * encoder_weight(a) + 0.75 * encoder_weight(b)
    )
    for got, wa, wb in zip(head_weights(mixed), head_weights(a), head_weights(b)):
        numpy.testing.assert_allclose(got, 0.25 * wa + 0.75 * wb, rtol=1e-5, atol=1e-6)
    assert head_weights(a) and not numpy.allclose(head_weights(a)[0], head_weights(b)[0])


def test_a_soup_of_one_run_with_itself_predicts_as_the_run(runs, tmp_path):
    one = spacy.load(runs[0])
    same = soup([runs[0], runs[0]])
    same.to_disk(tmp_path / "soup")
    texts = [d.text for d in gold_docs(one)]
    expected = [[(s.start, s.end, s.label_) for s in d.spans["sc"]] for d in one.pipe(texts)]
    reloaded = spacy.load(tmp_path / "soup")
    assert [
        [(s.start, s.end, s.label_) for s in d.spans["sc"]] for d in reloaded.pipe(texts)
    ] == expected


def test_pipelines_of_other_configs_are_refused(runs, tmp_path):
    other = blank()
    other.add_pipe("sentencizer")
    other.to_disk(tmp_path / "other")
    with pytest.raises(ValueError, match="other weights"):
        soup([runs[0], tmp_path / "other"])


@pytest.mark.parametrize("weights", [[0.5], [0.7, 0.7]])
def test_weights_must_be_one_per_pipeline_and_sum_to_one(runs, weights):
    with pytest.raises(ValueError, match="one per pipeline"):
        soup(runs, weights)
