"""The Hugging Face config of a new encoder of a given architecture and shape: what pretraining
starts from and what the random stand-in is built as."""

from .vocab import CLS, PAD, SEP

# ModernBERT as the "cramming" recipe shapes a small encoder for a short budget: pre-LayerNorm,
# no biases, a GLU feed-forward, no dropout, global attention in every layer (the windows are
# short, so local attention would save nothing).
MODERNBERT = {
    "global_attn_every_n_layers": 1,
    "attention_bias": False,
    "mlp_bias": False,
    "norm_bias": False,
    "attention_dropout": 0.0,
    "mlp_dropout": 0.0,
    "embedding_dropout": 0.0,
    "reference_compile": False,
    "global_rope_theta": 10000.0,
    "pad_token_id": PAD,
    "cls_token_id": CLS,
    "sep_token_id": SEP,
    "bos_token_id": CLS,
    "eos_token_id": SEP,
}


def model_config(
    arch: str, vocab_size: int, layers: int, hidden: int, heads: int, intermediate: int
):
    """A new model's config; `arch` is a transformers model type (bert, roformer, modernbert)."""
    from transformers import AutoConfig

    return AutoConfig.for_model(
        arch,
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        **(MODERNBERT if arch == "modernbert" else {}),
    )
