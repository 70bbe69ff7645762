"""The masked-LM model of a pretraining run: made or loaded, its loss, its optimizer, and its
held-out accuracy.

The prediction head runs only at masked positions: the vocabulary projection is the largest
matrix in a small model, and the other positions carry no loss.
"""

import time

from ..components.precision import autocast, resolve_precision
from .architectures import model_config
from .masking import IGNORE
from .recipe import Recipe
from .text import PretrainTextError


def masked_lm_loss(model, inputs, labels):
    """Cross-entropy over the masked positions only: the head never sees the others."""
    import torch.nn.functional as F

    hidden = model.base_model(input_ids=inputs).last_hidden_state
    where = labels != IGNORE
    logits = mlm_head(model)(hidden[where])
    return F.cross_entropy(logits.float(), labels[where]), logits, labels[where]


def mlm_head(model):
    """The masked-LM head of a model: BERT and RoFormer keep it in `cls`, ModernBERT in `head`
    (transform and norm) and `decoder` (the vocabulary projection)."""
    if hasattr(model, "cls"):
        return model.cls
    return lambda hidden: model.decoder(model.head(hidden))


def training_precision(recipe: Recipe, device: str) -> str:
    """fp32 or bf16: the recipe's precision resolved for this device (int8 cannot train)."""
    if recipe.precision == "int8":
        raise PretrainTextError("precision int8 is for inference only: use fp32, bf16 or auto")
    if str(device).startswith("cuda"):
        return "fp32" if recipe.precision == "fp32" else "bf16"
    return resolve_precision(recipe.precision)


def autocast_for(device, precision: str):
    """The autocast context of `precision` on `device` (CUDA, or the CPU's)."""
    import torch

    if str(device).startswith("cuda") and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return autocast(precision)


def heldout_accuracy(model, batch, device, precision="fp32", batch_size: int = 64) -> float:
    """Top-1 accuracy at the masked positions of the held-out batch (nan without one)."""
    import torch

    if batch is None:
        return float("nan")
    inputs, labels = batch
    correct = total = 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(inputs), batch_size):
            x = torch.from_numpy(inputs[i : i + batch_size]).to(device)
            y = torch.from_numpy(labels[i : i + batch_size]).to(device)
            with autocast_for(device, precision):
                _, logits, gold = masked_lm_loss(model, x, y)
            correct += int((logits.argmax(-1) == gold).sum())
            total += int(gold.numel())
    model.train()
    return correct / max(1, total)


def set_dropout(model, p: float | None) -> None:
    """Dropout of every layer while pretraining (the saved config keeps the model's own)."""
    from torch import nn

    if p is not None:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = p


def new_model(recipe: Recipe, vocab_size: int, streams, threads: int, log):
    """A new masked-LM model of the recipe's shape; word2vec input embeddings if it says so."""
    import torch
    from transformers import AutoModelForMaskedLM

    config = model_config(
        recipe.arch, vocab_size, recipe.layers, recipe.hidden, recipe.heads, recipe.intermediate
    )
    torch.manual_seed(recipe.seed)
    model = AutoModelForMaskedLM.from_config(config)
    if recipe.word2vec:
        from .word2vec import word2vec_embeddings

        t0 = time.time()
        vectors = word2vec_embeddings(
            streams.train, vocab_size, recipe.hidden, config.initializer_range, recipe.seed, threads
        )
        with torch.no_grad():
            model.get_input_embeddings().weight.copy_(torch.from_numpy(vectors))
        log(f"word2vec input embeddings ({time.time() - t0:.0f} s)")
    return model


def load_model(folder, state: dict | None, where):
    """The masked-LM model of a folder (--init-from, or the run a resume continues), with the
    checkpoint's weights when `state` is one."""
    from transformers import AutoModelForMaskedLM

    try:
        model = AutoModelForMaskedLM.from_pretrained(str(folder))
        if state is not None:
            model.load_state_dict(state["model"])
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise PretrainTextError(f"{where}: cannot load the model ({first})") from None
    return model


def make_optimizer(model, recipe: Recipe, state: dict | None):
    """AdamW, weight decay on matrices only; the checkpoint's state when resuming."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    if state is not None:
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, TypeError) as e:
            raise PretrainTextError(f"the checkpoint's optimizer does not fit ({e})") from None
    return optimizer
