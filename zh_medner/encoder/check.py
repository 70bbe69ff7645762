"""The encoder path check.

spacy-transformers hands `name` to Hugging Face's `from_pretrained`, which takes a
missing directory for a hub id and then fails on the network (or offline) with an
error that does not mention the path. `check_encoder` says what is wrong first.
"""

import json
import os
import re
from pathlib import Path

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_encoder(name: str) -> str:
    """Return a description of the encoder, or raise ValueError saying what is wrong."""
    path = Path(name).expanduser()
    if path.is_dir():
        missing = [f for f in ("config.json",) if not (path / f).exists()]
        tokenizer_files = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model")
        if not any((path / f).exists() for f in tokenizer_files):
            missing.append("a tokenizer (tokenizer.json or vocab.txt)")
        if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
            missing.append("weights (model.safetensors or pytorch_model.bin)")
        if missing:
            raise ValueError(
                f"encoder directory {path} is not a Hugging Face model: missing "
                f"{', '.join(missing)}"
            )
        config_file = path / "config.json"
        try:
            config = json.loads(config_file.read_text(encoding="utf8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{config_file}: not valid UTF-8 JSON ({e})") from None
        if not isinstance(config, dict):
            raise ValueError(
                f"{config_file}: expected a JSON object, found {type(config).__name__}"
            )
        return f"local encoder {path.resolve()} ({config.get('model_type', '?')})"
    if path.exists():
        raise ValueError(f"encoder {path} is a file; give the directory that holds config.json")
    looks_local = name.startswith((".", "/", "~")) or (
        HUB_ID.match(name) and Path(name.split("/")[0]).is_dir()
    )
    if looks_local or not HUB_ID.match(name):
        raise ValueError(
            f"encoder directory not found: {name!r} (from {Path.cwd()}). "
            "Build the default with `spacy project run build-random-encoder`, or pass "
            "--vars.encoder DIR"
        )
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        raise ValueError(
            f"encoder {name!r} is not a local directory and the hub is offline (HF_HUB_OFFLINE=1)"
        )
    return f"hub id {name!r}: Hugging Face will download it (needs network access)"
