"""What a pretraining run learns, chosen by the recipe's `objective`: masked characters (mlm.py)
or replaced-token detection (rtd.py). Each gives the model it trains, its loss on a batch of
windows, its held-out measure (named by model_card.measure) and the encoder a folder keeps."""

import math

import numpy as np

from .masking import apply_mask
from .mlm import heldout_accuracy, masked_lm_loss
from .vocab import SPECIAL_TOKENS


class MaskedChars:
    """Predict the masked characters; the folder keeps the masked-LM head."""

    def __init__(self, vocab_size: int, eval_batch, device):
        self.vocab_size, self.eval_batch, self.device = vocab_size, eval_batch, device

    def trained(self, model, state: dict | None):
        return model  # load_model has put a checkpoint's weights in already

    def loss(self, model, ids, chosen, rng):
        import torch

        inputs, labels = apply_mask(ids, chosen, rng, self.vocab_size, len(SPECIAL_TOKENS))
        x, y = (torch.from_numpy(a).to(self.device) for a in (inputs, labels))
        return masked_lm_loss(model, x, y)[0]

    def heldout(self, model) -> float:
        return heldout_accuracy(model, self.eval_batch, self.device)  # fp32: comparable

    def encoder(self, model):
        return model


class ReplacedTokens(MaskedChars):
    """Tell the generator's replacements from the original characters, at every position."""

    def __init__(self, generator: str, vocab: list[str], eval_batch, seed: int, device):
        from .rtd import heldout_batch, load_generator

        super().__init__(len(vocab), eval_batch, device)
        self.generator = load_generator(generator, vocab).to(device)
        self.eval_batch = (
            None if eval_batch is None else heldout_batch(self.generator, eval_batch, seed)
        )

    def trained(self, model, state: dict | None):
        from .rtd import Discriminator

        model = Discriminator(model)
        if state is not None:
            model.load_state_dict(state["model"])
        return model

    def loss(self, model, ids, chosen, rng):
        import torch

        from .rtd import corrupt, rtd_loss

        inputs, _ = apply_mask(ids, chosen, rng, self.vocab_size, len(SPECIAL_TOKENS))
        original, x, where = (
            torch.from_numpy(a).to(self.device) for a in (ids.astype(np.int64), inputs, chosen)
        )
        seed = int(rng.integers(2**62))
        return rtd_loss(model, *corrupt(self.generator, original, x, where, seed))[0]

    def heldout(self, model) -> float:
        from .rtd import heldout_rtd_f1

        if self.eval_batch is None:
            return math.nan
        return heldout_rtd_f1(model, self.eval_batch, self.device)

    def encoder(self, model):
        return model.encoder.base_model  # no masked-LM head: it was never trained here


def make_objective(recipe, vocab: list[str], eval_batch, device) -> MaskedChars:
    if recipe.objective == "rtd":
        return ReplacedTokens(recipe.generator, vocab, eval_batch, recipe.seed, device)
    return MaskedChars(len(vocab), eval_batch, device)
