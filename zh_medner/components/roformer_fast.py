"""RoFormer's encoder forward at prediction, with its attention done in fewer operations.

transformers' RoFormer builds each layer's rotary tables again from the position table and
rotates the query and the key with four stacks, two negations and reshapes; it then divides
and masks the [windows, heads, n, n] scores before the softmax. On these CPUs that was 21% of
the bf16 encoder forward (py-spy, CMeEE dev). `encode` reads the same weights and:
- builds the rotary tables once per forward, the sine's sign folded in;
- projects query, key and value in one matrix product (their weights stacked once, again only
  after they change), and rotates query and key together;
- runs scores, mask and softmax in `scaled_dot_product_attention`, or, in bf16 on a CPU
  without AMX, as two batched products and a softmax (`attention_products`): there torch's
  fused CPU attention was the slower (bf16 encoder 16% faster on an AVX512-BF16 EPYC;
  docs/results.md);
- in bf16, on a CPU whose oneDNN does bf16, runs each matrix product with its bias, and the
  GELU or the residual sum after it, in one oneDNN call (`torch.ops.mkldnn._linear_pointwise`,
  the call torch's own compiler makes for these patterns on CPU), on weights kept in oneDNN's
  own layout (`packed`), as that compiler keeps them. Not in fp32, whose products
  run in MKL: there the same call kept a reordered copy of the weights for each input shape
  (docs/results.md). Elsewhere upstream's modules run.
The arithmetic is upstream's; only the order of some roundings differs (tests compare both).
A model this does not cover (not a RoFormer encoder, rotary values, training, extra inputs)
runs its own forward.

This file is shipped in the wheel: it imports nothing from `zh_medner`.
"""

import functools
import weakref

INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})
_FUSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
PACK_ROWS = 8192  # the rows oneDNN plans a packed layout for: one forward of 64 long windows


def encode(model, inputs: dict):
    """The encoder's last hidden state for `inputs` (its keyword arguments)."""
    if not covered(model, inputs):
        return model(**inputs).last_hidden_state
    import torch

    ids = inputs["input_ids"]
    x = model.embeddings(input_ids=ids, token_type_ids=inputs.get("token_type_ids"))
    if hasattr(model, "embeddings_project"):
        x = model.embeddings_project(x)
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(ids)
    # upstream's extended mask: 0 where a window has a token, the dtype's minimum elsewhere
    mask = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
    cos, sin = rotary_tables(model.encoder.embed_positions.weight[: ids.shape[1]])
    op = fused_linear(model, x)
    for layer in model.encoder.layer:
        heads = attention(layer.attention.self, x, mask, cos, sin, op)
        if op is None:
            attended = layer.attention.output(heads, x)
            x = layer.output(layer.intermediate(attended), attended)
        else:
            x = feed_forward(layer, heads, x, op)
    return x


def fused_linear(model, x):
    """torch's oneDNN matrix product with a fused bias, GELU or sum, for bf16 on a CPU where
    oneDNN does bf16 (without it the call fails: plain products fall back to torch's own
    kernels) and for the exact GELU it fuses; else None."""
    import torch

    if (
        x.device.type != "cpu"
        or x.dtype != torch.bfloat16
        or model.config.hidden_act != "gelu"
        or not torch.backends.mkldnn.is_available()
    ):
        return None
    try:
        ops = torch.ops.mkldnn
        return ops._linear_pointwise if ops._is_mkldnn_bf16_supported() else None
    except (AttributeError, RuntimeError):  # a torch built without them
        return None


def feed_forward(layer, heads, x, op):
    """The layer after its attention: upstream's LayerNorm(dense(heads) + x), then
    LayerNorm(dense(GELU(dense(a))) + a), each bias, GELU and sum inside its product."""
    out, inner, last = layer.attention.output, layer.intermediate.dense, layer.output
    a = out.LayerNorm(
        op.binary(heads.flatten(0, 1), x.flatten(0, 1), dense(out.dense), out.dense.bias, "add")
    )
    h = op(a, dense(inner), inner.bias, "gelu", [], "none")
    return last.LayerNorm(op.binary(h, a, dense(last.dense), last.dense.bias, "add")).view(x.shape)


def covered(model, inputs: dict) -> bool:
    """Prediction (no gradients, eval mode) of a RoFormer encoder on the inputs it reads."""
    import torch

    config = getattr(model, "config", None)
    return (
        not torch.is_grad_enabled()
        and getattr(config, "model_type", None) == "roformer"
        and not config.rotary_value
        and not config.is_decoder
        and not model.training
        and set(inputs) <= INPUTS
        and "input_ids" in inputs
        and hasattr(model, "encoder")
    )


def rotary_tables(positions):
    """[n, d] cos and signed sin for rotating pairs (2j, 2j+1): x * cos + swap(x) * sin is
    upstream's x * cos_pos + rotate_half(x) * sin_pos. `positions`: upstream's table, sines in
    its first half, cosines in its second."""
    import torch

    sin, cos = positions.chunk(2, dim=-1)
    return (
        cos.repeat_interleave(2, dim=-1),
        torch.stack((-sin, sin), dim=-1).flatten(-2),
    )


def attention(module, x, mask, cos, sin, op=None):
    """One RoFormerSelfAttention's output, [windows, n, hidden]; `op`: `fused_linear`'s."""
    import torch
    from torch.nn.functional import linear, scaled_dot_product_attention

    b, n, _ = x.shape
    h, d = module.num_attention_heads, module.attention_head_size
    key, weight, bias = fused_projection(module)
    if op is None:
        qkv = linear(x, weight, bias).view(b, n, 3, h, d)
    else:
        weight = packed(module, weight, key)
        qkv = op(x.flatten(0, 1), weight, bias, "none", [], "none").view(b, n, 3, h, d)
    qk = qkv[:, :, :2]
    pairs = qk.unflatten(-1, (-1, 2))
    swapped = torch.stack((pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    qk = torch.addcmul(qk * cos[:, None, None], swapped, sin[:, None, None])
    q, k, v = (t.transpose(1, 2) for t in (qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]))
    if x.dtype == torch.bfloat16 and not _has_amx():
        out = attention_products(q, k, v, mask)
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask)  # scaled by 1/sqrt(d)
    return out.transpose(1, 2).reshape(b, n, h * d)


def attention_products(q, k, v, mask):
    """softmax(q kᵀ / sqrt(d) + mask) v for [windows, heads, n, d] inputs and a [windows, 1, 1,
    n] mask, as `scaled_dot_product_attention` computes it, in two batched products."""
    import torch

    b, h, n, d = q.shape
    scores = torch.baddbmm(
        mask.expand(b, h, 1, n).reshape(b * h, 1, n),  # broadcast over the queries
        q.reshape(b * h, n, d),
        k.reshape(b * h, n, d).transpose(1, 2),
        alpha=d**-0.5,
    )
    return torch.bmm(scores.softmax(-1), v.reshape(b * h, n, d)).view(b, h, n, d)


@functools.cache
def _has_amx() -> bool:
    """Whether this CPU has AMX tiles (torch's private probe; an unknown CPU has none)."""
    import torch

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # noqa: BLE001
        return False


def fused_projection(module):
    """(key, weight, bias): query, key and value stacked, made again when one of them is
    replaced or changed in place through torch (`key` names the weights they were made of).
    thinc's optimizer writes through a numpy view, which torch does not count: whoever trains
    the model calls `forget` after each step."""
    import torch

    parts = [getattr(module, name) for name in ("query", "key", "value")]
    tensors = [t for p in parts for t in (p.weight, p.bias)]
    key = tuple((t.data_ptr(), _version(t)) for t in tensors)
    cached = _FUSED.get(module)
    if cached is None or cached[0] != key:
        with torch.no_grad():
            fused = (torch.cat([p.weight for p in parts]), torch.cat([p.bias for p in parts]))
        cached = _FUSED[module] = (key, *fused)
    return cached


def dense(linear):
    """A Linear module's weight, packed (`packed`)."""
    weight = linear.weight
    return packed(linear, weight, (weight.data_ptr(), _version(weight)))


def packed(owner, weight, key):
    """`weight` (a bf16 matrix of module `owner`, `key` naming its state) in oneDNN's own
    layout for `_linear_pointwise`, made again when the key changes: the product then skips
    reordering it at each call (the bf16 encoder 7-9% faster on an AVX512-BF16 EPYC, the same
    output bit for bit). The weight itself where torch cannot pack it."""
    cached = _PACKED.get(owner)
    if cached is None or cached[0] != key:
        cached = _PACKED[owner] = (key, _reorder(weight))
    return cached[1]


def _reorder(weight):
    import torch

    try:
        return torch.ops.mkldnn._reorder_linear_weight(weight, PACK_ROWS)
    except (AttributeError, RuntimeError):  # a torch built without it
        return weight


def forget(model) -> None:
    """Drop the stacked and packed weights of `model`: its weights have changed."""
    for module in model.modules():
        _FUSED.pop(module, None)
        _PACKED.pop(module, None)


def _version(tensor) -> int | None:
    """How often the tensor was changed in place; None for a tensor made under
    torch.inference_mode, which keeps no count (and cannot change outside it)."""
    try:
        return tensor._version
    except RuntimeError:
        return None
