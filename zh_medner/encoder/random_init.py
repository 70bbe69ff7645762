"""The seeded, randomly initialised encoder: the fast stand-in, and a baseline of a given shape."""

import json
from pathlib import Path

from .vocab import char_vocab, save_tokenizer


def build_random_encoder(
    output_dir: Path,
    seed: int = 0,
    hidden: int = 128,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 512,
    like: Path | None = None,
) -> None:
    """Save a randomly initialised BERT (HF format, masked-LM head included).

    `like` copies the shape and vocabulary of another encoder folder: the random twin
    that shows what pretraining bought.
    """
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    output_dir.mkdir(parents=True, exist_ok=True)
    if like is not None:
        vocab = (Path(like) / "vocab.txt").read_text(encoding="utf8").splitlines()
        shape = json.loads((Path(like) / "config.json").read_text(encoding="utf8"))
        hidden, layers = shape["hidden_size"], shape["num_hidden_layers"]
        heads, intermediate = shape["num_attention_heads"], shape["intermediate_size"]
    else:
        vocab = char_vocab()
    tokenizer: BertTokenizerFast = save_tokenizer(vocab, output_dir)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    BertForMaskedLM(config).save_pretrained(str(output_dir), safe_serialization=True)
    twin = f" It has the shape and vocabulary of `{like}`." if like is not None else ""
    (output_dir / "README.md").write_text(
        "# Randomly initialised BERT: NOT PRETRAINED\n\n"
        f"Built by `scripts/build_random_encoder.py` with seed {seed}: {layers} layers, "
        f"hidden {hidden}, "
        f"{heads} heads, {len(tokenizer)} character tokens.{twin} Its weights are random. It "
        "lets the "
        "workflow and the tests run without the pretrained encoder, and is the baseline that "
        "shows what "
        "pretraining bought; expect low accuracy.\n",
        encoding="utf8",
    )
