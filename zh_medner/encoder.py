"""Encoders: the character vocabulary, the seeded random stand-in, and the path check.

spacy-transformers hands `name` to Hugging Face's `from_pretrained`, which takes a
missing directory for a hub id and then fails on the network (or offline) with an
error that does not mention the path. `check_encoder` says what is wrong first.
"""
import json
import os
import re
from pathlib import Path
from typing import List

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Full-width and Chinese punctuation, units and symbols common in clinical text.
CJK_SYMBOLS = "，。、；：？！“”‘’（）【】《》〈〉「」『』—…～·℃°±×÷≤≥＜＞％＋－／＝μ↑↓→←"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def char_vocab() -> List[str]:
    """Characters, plus `##` pieces for Latin letters and digits ("HbA1c", "100mg").

    The tokenizer lower-cases, so upper-case letters are not listed.
    """
    ascii_chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    pieces = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    hanzi = [chr(c) for c in range(0x4E00, 0xA000)]
    return SPECIAL_TOKENS + ascii_chars + pieces + list(CJK_SYMBOLS) + hanzi


def build_random_encoder(
    output_dir: Path, seed: int = 0, hidden: int = 128, layers: int = 2, heads: int = 2, intermediate: int = 512
) -> None:
    """Save a randomly initialised BERT with the character vocabulary (HF format)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    output_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = output_dir / "vocab.txt"
    vocab_file.write_text("\n".join(char_vocab()) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True, tokenize_chinese_chars=True)
    tokenizer.save_pretrained(str(output_dir))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(output_dir), safe_serialization=True)
    (output_dir / "README.md").write_text(
        "# Randomly initialised BERT: NOT PRETRAINED\n\n"
        f"Built by `scripts/build_random_encoder.py` with seed {seed}: {layers} layers, hidden {hidden}, "
        f"{heads} heads, {len(tokenizer)} character tokens. Its weights are random. It lets the workflow "
        "run end to end without downloading anything; expect low accuracy. Use a pretrained encoder "
        "for real work (`--vars.encoder`).\n",
        encoding="utf8",
    )


def check_encoder(name: str) -> str:
    """Return a description of the encoder, or raise ValueError saying what is wrong."""
    path = Path(name).expanduser()
    if path.is_dir():
        missing = [f for f in ("config.json",) if not (path / f).exists()]
        tokenizer_files = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model")
        if not any((path / f).exists() for f in tokenizer_files):
            missing.append("a tokenizer (tokenizer.json or vocab.txt)")
        if missing:
            raise ValueError(f"encoder directory {path} is not a Hugging Face model: missing {', '.join(missing)}")
        model_type = json.loads((path / "config.json").read_text(encoding="utf8")).get("model_type", "?")
        return f"local encoder {path.resolve()} ({model_type})"
    if path.exists():
        raise ValueError(f"encoder {path} is a file; give the directory that holds config.json")
    looks_local = name.startswith((".", "/", "~")) or (HUB_ID.match(name) and Path(name.split("/")[0]).is_dir())
    if looks_local or not HUB_ID.match(name):
        raise ValueError(
            f"encoder directory not found: {name!r} (from {Path.cwd()}). "
            "Build the default with `spacy project run build-random-encoder`, or pass --vars.encoder DIR"
        )
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        raise ValueError(f"encoder {name!r} is not a local directory and the hub is offline (HF_HUB_OFFLINE=1)")
    return f"hub id {name!r}: Hugging Face will download it (needs network access)"
