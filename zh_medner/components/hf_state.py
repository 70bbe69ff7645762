"""The encoder's state in a saved pipeline: safetensors, loaded without unpickling (a backport of
spacy-transformers #423; states pickled by spacy-transformers < 2.0 load with weights_only=True),
and its config's exact floats (upstream's JSON round trip turned layer_norm_eps 1e-12 into 0.0).

This file is shipped in the wheel: it imports nothing from `zh_medner`.
"""

import io
import json
import tempfile
from pathlib import Path

PICKLE_ZIP = b"PK"  # torch.save's zip container; a safetensors state starts with its header size


def read_config_and_tokenizer(msg: dict, config_cls, tokenizer_cls):
    """The encoder config (its floats exact) and tokenizer saved in a shim's message, and the
    vocabulary file's bytes."""
    tok_dict = dict(msg["tokenizer"])
    tok_kwargs = tok_dict.pop("kwargs", {})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # stdlib json writes floats exactly (srsly's ujson rounds 1e-12 to 0.0)
        (folder / "config.json").write_text(json.dumps(msg["config"]), encoding="utf8")
        config = config_cls.from_pretrained(str(folder / "config.json"))
        for file_name, data in tok_dict.items():
            (folder / file_name).write_bytes(data)
        tokenizer = tokenizer_cls.from_pretrained(str(folder), **tok_kwargs)
        vocab = None
        if hasattr(tokenizer, "vocab_file"):
            vocab_name = tokenizer.vocab_files_names["vocab_file"]
            vocab = (folder / vocab_name).read_bytes()
    return tokenizer, vocab, config


def state_to_bytes(state: dict) -> bytes:
    from safetensors.torch import save

    # clone: safetensors refuses tensors that share memory (tied weights)
    return save({k: v.detach().cpu().clone().contiguous() for k, v in state.items()})


def state_from_bytes(data: bytes, device) -> dict:
    """A safetensors state, or a state pickled by spacy-transformers < 2.0 (weights only)."""
    import torch

    if data[:2] == PICKLE_ZIP:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    from safetensors.torch import load

    return {k: v.to(device) for k, v in load(data).items()}
