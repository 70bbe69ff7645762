"""`zh_medner.Adam_layerwise.v1`: thinc's Adam with a learning-rate scale per encoder layer.

thinc's optimizer is called once per parameter with its key (the owning shim's id, and for a
PyTorch module the parameter's name), and takes an `lr_scale`. Hugging Face encoders name their
parameters `embeddings.*` and `encoder.layer.N.*`, so the depth of each is in its name:

- `layer_decay` < 1: layer-wise learning-rate decay (ELECTRA, Clark et al. 2020): layer N of L
  learns at `layer_decay ** (L - N)` of the rate, the embeddings at `layer_decay ** (L + 1)`;
- `encoder_scale`: every encoder parameter at that share of the rate (a gentler encoder);
- `frozen_layers` = k: the embeddings and the first k - 1 layers do not move.

Everything else (the span head, a CNN) learns at the full rate. Training only: a pipeline
never needs this at load time.
"""

import re

from thinc.api import Optimizer, registry

LAYER = re.compile(r"(?:^|\.)(?:encoder\.)?layer\.(\d+)\.")


def encoder_depth(name: str) -> int | None:
    """0 for embeddings, N + 1 for encoder layer N, None for anything else."""
    if name.startswith("embeddings.") or ".embeddings." in name:
        return 0
    found = LAYER.search(name)
    return int(found.group(1)) + 1 if found else None


class LayerwiseAdam(Optimizer):
    def __init__(self, *args, layer_decay, encoder_scale, frozen_layers, n_layers, **kwargs):
        super().__init__(*args, **kwargs)
        self.layer_decay, self.encoder_scale = layer_decay, encoder_scale
        self.frozen_layers, self.n_layers = frozen_layers, n_layers

    def scale(self, name: str) -> float:
        depth = encoder_depth(name)
        if depth is None:
            return 1.0
        if depth < self.frozen_layers:
            return 0.0
        return self.encoder_scale * self.layer_decay ** (self.n_layers + 1 - depth)

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        name = key[1] if isinstance(key, tuple) and len(key) > 1 else ""
        scale = self.scale(str(name))
        if scale == 0.0:
            gradient *= 0  # frozen: no step, no weight decay, no moment updates
            return weights, gradient
        return super().__call__(key, weights, gradient, lr_scale=lr_scale * scale)


@registry.optimizers("zh_medner.Adam_layerwise.v1")
def adam_layerwise(
    learn_rate=0.001,
    *,
    L2=1e-6,
    beta1=0.9,
    beta2=0.999,
    eps=1e-08,
    grad_clip=1.0,
    L2_is_weight_decay: bool = True,
    use_averages: bool = False,
    layer_decay: float = 1.0,
    encoder_scale: float = 1.0,
    frozen_layers: int = 0,
    n_layers: int = 4,
) -> Optimizer:
    """Adam.v1, with the encoder's learning rate scaled per layer (see the module docstring)."""
    return LayerwiseAdam(
        learn_rate,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
        use_radam=False,
        layer_decay=layer_decay,
        encoder_scale=encoder_scale,
        frozen_layers=frozen_layers,
        n_layers=n_layers,
    )
