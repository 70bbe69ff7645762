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
LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def check_weights(path: Path) -> None:
    """Refuse a weights file that cannot load: empty, a Git LFS pointer, or (safetensors) a
    header that does not describe the file."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError(
            f"{path}: is empty (0 bytes), not the weights: copy the encoder folder again, or "
            "rerun what wrote it"
        )
    with path.open("rb") as f:
        head = f.read(len(LFS_POINTER))
    if head == LFS_POINTER:
        raise ValueError(
            f"{path}: is a Git LFS pointer ({size} bytes), not the weights: the clone has no LFS "
            "objects. Run `git lfs install && git lfs pull` in the repository it came from, or "
            "copy the real file"
        )
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as weights:
                weights.keys()
        except Exception as e:
            raise ValueError(
                f"{path}: not a readable safetensors file ({size} bytes; {e}): it is damaged or "
                "cut short; copy the encoder folder again"
            ) from None


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
        for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
            check_weights(weights)
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
            f"encoder directory not found: {name!r} (from {Path.cwd()}). The project's encoder "
            "is encoders/medchar-roformer-4x256 (in the repository); `spacy project run "
            "pretrain-encoder` pretrains a new one and `build-random-encoder` builds the random "
            "stand-in; pass the folder with --vars.encoder DIR"
        )
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        raise ValueError(
            f"encoder {name!r} is not a local directory and the hub is offline (HF_HUB_OFFLINE=1)"
        )
    return f"hub id {name!r}: Hugging Face will download it (needs network access)"
