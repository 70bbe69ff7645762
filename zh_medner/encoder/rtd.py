"""Replaced-token detection (ELECTRA): the encoder learns from every position, not only the
masked 15%, by telling the original characters from plausible replacements.

Two-stage ELECTRA (Clark et al. 2020, section 3.2): the generator is a trained masked-LM folder
(for example the shipped encoder), frozen. It fills the masked positions with samples from its
softmax; the discriminator, the encoder being trained, reads the result and predicts, for every
position, whether it was replaced. A sample equal to the original counts as original. The
discriminator's head is dropped at export: the folder keeps the encoder alone, with no
masked-LM head, and its card reports the held-out replaced-token F1 instead of top-1.
Imported only by runs whose recipe says `"objective": "rtd"` (it imports torch).
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .masking import IGNORE
from .text import PretrainTextError
from .vocab import SPECIAL_TOKENS


class Discriminator(nn.Module):
    """The masked-LM model being trained (its own head unused) and a per-position head."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, input_ids):
        hidden = self.encoder.base_model(input_ids=input_ids).last_hidden_state
        return self.head(hidden).squeeze(-1)


def load_generator(folder: str, vocab: list[str]):
    """The frozen generator: a masked-LM folder whose vocabulary is the run's."""
    from .mlm import load_model
    from .pretrain_setup import read_vocab

    theirs = read_vocab(Path(folder), "the generator needs the run's vocabulary")
    if theirs != list(vocab):
        raise PretrainTextError(
            f"{folder}: the generator's vocabulary ({len(theirs):,} entries) is not the run's "
            f"({len(vocab):,}): use a generator pretrained with the same vocabulary (for "
            "example the --init-from folder itself)"
        )
    generator = load_model(folder, None, f"generator {folder}")
    generator.eval().requires_grad_(False)
    return generator


def corrupt(generator, ids, inputs, chosen, seed: int):
    """(corrupted ids, replaced) where the generator's samples fill the chosen positions of
    `ids`; `inputs` is what the generator reads (the chosen positions masked)."""
    from .mlm import mlm_head

    with torch.no_grad():
        hidden = generator.base_model(input_ids=inputs).last_hidden_state
        logits = mlm_head(generator)(hidden[chosen]).float()
        logits[:, : len(SPECIAL_TOKENS)] = float("-inf")  # never propose [PAD], [MASK], ...
        draw = torch.Generator(device=logits.device).manual_seed(seed)
        sampled = torch.multinomial(logits.softmax(-1), 1, generator=draw).squeeze(-1)
    corrupted = ids.clone()
    corrupted[chosen] = sampled
    return corrupted, corrupted != ids


def rtd_loss(discriminator, corrupted, replaced):
    """Binary cross-entropy over every position, and the logits."""
    logits = discriminator(corrupted).float()
    return F.binary_cross_entropy_with_logits(logits, replaced.float()), logits


def heldout_batch(generator, batch, seed: int, batch_size: int = 64):
    """The held-out masked batch (inputs, labels) corrupted once, with a fixed seed, so every
    checkpoint of a run scores the same replacements: (corrupted, replaced) as numpy."""
    inputs, labels = batch
    device = next(generator.parameters()).device
    chosen = labels != IGNORE
    original = np.where(chosen, labels, inputs)
    parts = []
    for i in range(0, len(inputs), batch_size):
        sl = slice(i, i + batch_size)
        parts.append(
            corrupt(
                generator,
                torch.from_numpy(original[sl]).to(device),
                torch.from_numpy(inputs[sl]).to(device),
                torch.from_numpy(chosen[sl]).to(device),
                seed + i,
            )
        )
    return (
        np.concatenate([c.cpu().numpy() for c, _ in parts]),
        np.concatenate([r.cpu().numpy() for _, r in parts]),
    )


def heldout_rtd_f1(discriminator, batch, device, batch_size: int = 64) -> float:
    """F1 of the "replaced" calls on the held-out positions. Not accuracy: about 93% of the
    positions are original, so calling every one original would score 0.93 there, and 0 here."""
    corrupted, replaced = batch
    tp = called = 0
    discriminator.eval()
    with torch.inference_mode():
        for i in range(0, len(corrupted), batch_size):
            x = torch.from_numpy(corrupted[i : i + batch_size]).to(device)
            y = torch.from_numpy(replaced[i : i + batch_size]).to(device)
            calls = discriminator(x) > 0
            tp += int((calls & y).sum())
            called += int(calls.sum())
    discriminator.train()
    return 2 * tp / max(1, called + int(replaced.sum()))
