"""The seeded, randomly initialised encoder: the fast stand-in, and a baseline of a given shape."""

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
    arch: str = "bert",
) -> None:
    """Save a randomly initialised encoder (HF format, masked-LM head included).

    Without `like`: a model of `arch` over every CJK character (BERT: the fast stand-in; or any
    architecture the pretraining recipe knows). With `like`: the same architecture,
    configuration and vocabulary as that encoder folder, with random weights: the twin that
    shows what pretraining bought.
    """
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM

    from .architectures import model_config

    output_dir.mkdir(parents=True, exist_ok=True)
    if like is not None:
        vocab = (Path(like) / "vocab.txt").read_text(encoding="utf8").splitlines()
        config = AutoConfig.from_pretrained(str(like))
    else:
        vocab = char_vocab()
        config = model_config(arch, len(vocab), layers, hidden, heads, intermediate)
    save_tokenizer(vocab, output_dir, config)
    torch.manual_seed(seed)
    AutoModelForMaskedLM.from_config(config).save_pretrained(
        str(output_dir), safe_serialization=True
    )
    twin = (
        f" It has the architecture, shape and vocabulary of `{like}`." if like is not None else ""
    )
    shape = (
        f"{config.model_type}, {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
        f"{config.num_attention_heads} heads, {len(vocab)} character tokens"
    )
    (output_dir / "README.md").write_text(
        "# Randomly initialised encoder: NOT PRETRAINED\n\n"
        f"Built by `scripts/build_random_encoder.py` with seed {seed}: {shape}.{twin} Its weights "
        "are random. It lets the workflow and the tests run without the pretrained encoder, and "
        "is the baseline that shows what pretraining bought; expect low accuracy.\n",
        encoding="utf8",
    )
