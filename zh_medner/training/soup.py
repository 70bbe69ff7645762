"""A weight average of trained pipelines (a "model soup", Wortsman et al. 2022).

It only makes sense for pipelines fine-tuned from one starting point: the same encoder and the
same seed, so that the span head starts from the same random weights (runs that differ, say, in
learning rate). Heads from different seeds sit in unrelated bases and their average is noise
(measured: held-out F1 4.0, docs/results.md).
"""

from collections.abc import Sequence
from pathlib import Path


def _weights(nlp) -> dict:
    """{key: (owner, param name or None)}: each thinc parameter, and each torch module in a
    shim (the encoder), keyed by component, node position and name."""
    import torch

    found = {}
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        for i, node in enumerate(model.walk()):
            for param in node.param_names:
                if node.has_param(param):
                    found[(name, i, node.name, param)] = (node, param)
            for j, shim in enumerate(node.shims):
                module = getattr(shim, "_model", None)
                if isinstance(module, torch.nn.Module):
                    found[(name, i, node.name, "shim", j)] = (module, None)
    return found


def _average_state(states: Sequence[dict], weights: Sequence[float]) -> dict:
    first = states[0]
    return {
        key: sum(w * s[key].float() for w, s in zip(weights, states)).to(value.dtype)
        if value.is_floating_point()
        else value
        for key, value in first.items()
    }


def soup(paths: Sequence[Path], weights: Sequence[float] | None = None):
    """The first pipeline of `paths`, its weights replaced by the weighted mean of all of them
    (uniform by default)."""
    import spacy

    if len(paths) < 2:
        raise ValueError("a soup needs at least two pipelines")
    weights = list(weights) if weights else [1.0 / len(paths)] * len(paths)
    if len(weights) != len(paths) or abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"weights {weights}: one per pipeline, summing to 1")
    pipelines = [spacy.load(p) for p in paths]
    found = [_weights(nlp) for nlp in pipelines]
    for path, other in zip(paths[1:], found[1:]):
        if other.keys() != found[0].keys():
            raise ValueError(
                f"{path} has other weights than {paths[0]}: soup only runs of one config"
            )
    for key, (owner, param) in found[0].items():
        if param is None:
            owner.load_state_dict(_average_state([f[key][0].state_dict() for f in found], weights))
        else:
            owner.set_param(param, sum(w * f[key][0].get_param(param) for w, f in zip(weights, found)))
    return pipelines[0]
