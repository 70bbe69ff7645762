"""zh_medner/components/roformer_fast.py: the RoFormer encoder forward at prediction gives
upstream's hidden states, and models it does not cover run their own forward."""

import copy

import pytest
import torch
from transformers import BertConfig, BertModel, RoFormerConfig, RoFormerModel

from zh_medner.components import roformer_fast
from zh_medner.components.roformer_fast import covered, encode

SMALL = {"vocab_size": 50, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64}


def roformer(**overrides):
    torch.manual_seed(0)
    shape = {"embedding_size": 32, "num_hidden_layers": 2, "max_position_embeddings": 64}
    return RoFormerModel(RoFormerConfig(**{**SMALL, **shape, **overrides})).eval()


def inputs(width: int = 20):
    """Four windows of different lengths, padded on the right, as spacy-transformers feeds
    them (a float mask)."""
    torch.manual_seed(1)
    lengths = torch.tensor([width, 3, 11, 1])
    ids = torch.randint(5, 50, (4, width))
    mask = (torch.arange(width)[None] < lengths[:, None]).float()
    ids[mask == 0] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def on_tokens(hidden, part):
    return hidden * part["attention_mask"][..., None]  # padding positions are nobody's


def test_the_fp32_forward_equals_upstreams():
    model, part = roformer(), inputs()
    with torch.no_grad():
        assert covered(model, part)
        expected = model(**part).last_hidden_state
        got = encode(model, part)
    assert torch.allclose(on_tokens(got, part), on_tokens(expected, part), atol=1e-5)


def test_a_bf16_model_stays_within_bf16_rounding_of_upstream():
    model, part = roformer(), inputs()
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    with torch.no_grad():
        exact = model(**part).last_hidden_state
        upstream = bf16(**part).last_hidden_state.float()
        got = encode(bf16, part).float()
    # as close to the fp32 result as upstream's own bf16 forward is
    upstream_error = (on_tokens(upstream - exact, part)).abs().max()
    error = (on_tokens(got - exact, part)).abs().max()
    assert error <= 2 * upstream_error + 1e-2


@pytest.mark.parametrize("act", ["gelu", "relu", "no fused op", "fp32"])
def test_bf16_products_with_their_bias_gelu_and_sum_fused_or_not_as_upstream(act, monkeypatch):
    """In bf16, oneDNN's fused products where torch has them and the activation is the exact
    GELU; upstream's modules otherwise (and in fp32); within bf16 rounding of fp32 either way."""
    model, part = roformer(hidden_act="relu" if act == "relu" else "gelu"), inputs()
    run = model if act == "fp32" else copy.deepcopy(model).to(torch.bfloat16)
    calls = []
    found = roformer_fast.fused_linear

    def spy(*args):
        op = found(*args)
        calls.append(op is not None)
        return None if act == "no fused op" else op

    monkeypatch.setattr(roformer_fast, "fused_linear", spy)
    with torch.no_grad():
        exact = model(**part).last_hidden_state
        upstream = run(**part).last_hidden_state.float()
        got = encode(run, part).float()
    # found for the exact GELU in bf16 on a CPU whose oneDNN does bf16 (then used unless taken away)
    assert calls == [
        act in ("gelu", "no fused op") and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    ]
    error = (on_tokens(got - exact, part)).abs().max()
    assert error <= 2 * (on_tokens(upstream - exact, part)).abs().max() + 1e-2
    if act == "fp32":
        assert torch.allclose(on_tokens(got, part), on_tokens(exact, part), atol=1e-5)


def test_the_fused_products_are_upstreams_arithmetic():
    """The fused layer, run in fp32 here (the pipeline runs it in bf16), equals upstream's
    modules to float rounding."""
    model = roformer()
    layer = model.encoder.layer[0]
    torch.manual_seed(3)
    x, heads = torch.randn(2, 7, 32) * 3, torch.randn(2, 7, 32) * 3
    op = torch.ops.mkldnn._linear_pointwise
    with torch.no_grad():
        attended = layer.attention.output(heads, x)
        expected = layer.output(layer.intermediate(attended), attended)
        got = roformer_fast.feed_forward(layer, heads, x, op)
        query = layer.attention.self.query(x)
        projected = op(
            x.flatten(0, 1),
            *roformer_fast.fused_projection(layer.attention.self)[1:],
            "none",
            [],
            "none",
        )
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(projected[:, :32], query.flatten(0, 1), atol=1e-5)


def test_the_embedding_projection_of_a_narrower_embedding_is_applied():
    model, part = roformer(embedding_size=16), inputs()
    assert hasattr(model, "embeddings_project")
    with torch.no_grad():
        expected = model(**part).last_hidden_state
        got = encode(model, part)
    assert torch.allclose(on_tokens(got, part), on_tokens(expected, part), atol=1e-5)


@pytest.mark.parametrize(
    "case",
    ["training", "rotary_value", "bert", "extra input", "gradients"],
)
def test_what_it_does_not_cover_runs_the_models_own_forward(case):
    part = inputs()
    if case == "bert":
        torch.manual_seed(0)
        model = BertModel(BertConfig(**SMALL, num_hidden_layers=1)).eval()
    else:
        model = roformer(rotary_value=case == "rotary_value")
    if case == "training":
        model.train()
    if case == "extra input":
        part["head_mask"] = torch.ones(2, 4)  # an input the fast forward does not read
    with torch.set_grad_enabled(case == "gradients"):
        assert not covered(model, part)
        torch.manual_seed(2)  # the same dropout masks in training
        expected = model(**part).last_hidden_state
        torch.manual_seed(2)
        got = encode(model, part)
    assert torch.equal(got, expected)
    if case == "gradients":  # every weight gets its gradient
        got.sum().backward()
        assert model.encoder.layer[0].attention.self.query.weight.grad is not None


def test_a_weight_changed_in_place_is_read_at_the_next_forward():
    """The stacked query, key and value are cached; a training step (in place) renews them."""
    model, part = roformer(), inputs()
    with torch.no_grad():
        encode(model, part)
        model.encoder.layer[0].attention.self.key.weight.mul_(3.0)
        expected = model(**part).last_hidden_state
        got = encode(model, part)
    assert torch.allclose(on_tokens(got, part), on_tokens(expected, part), atol=1e-5)


def test_a_model_made_under_inference_mode_runs_too():
    """Its weights keep no version count: the cache keys on their storage alone."""
    part = inputs()
    with torch.inference_mode():
        model = copy.deepcopy(roformer()).to(torch.bfloat16)
        expected = model(**part).last_hidden_state.float()
        got = encode(model, part).float()
    assert (on_tokens(got - expected, part)).abs().max() < 0.1


def test_token_types_and_padding_on_the_left_as_upstream():
    model, part = roformer(), inputs()
    part["attention_mask"] = part["attention_mask"].flip(1)  # padding first
    part["input_ids"] = part["input_ids"].flip(1)
    part["token_type_ids"] = (torch.arange(part["input_ids"].shape[1]) % 2).expand(4, -1)
    with torch.no_grad():
        expected = model(**part).last_hidden_state
        got = encode(model, part)
    assert torch.allclose(on_tokens(got, part), on_tokens(expected, part), atol=1e-5)


@pytest.mark.parametrize("amx", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attention_as_products_in_bf16_without_amx_else_fused_as_upstream(amx, dtype, monkeypatch):
    monkeypatch.setattr(roformer_fast, "_has_amx", lambda: amx)
    calls = []
    products = roformer_fast.attention_products
    monkeypatch.setattr(
        roformer_fast, "attention_products", lambda *a: calls.append(1) or products(*a)
    )
    model, part = roformer(), inputs()
    run = copy.deepcopy(model).to(dtype)
    with torch.no_grad():
        exact = model(**part).last_hidden_state
        upstream = run(**part).last_hidden_state.float()
        got = encode(run, part).float()
    error = (on_tokens(got - exact, part)).abs().max()
    assert error <= 2 * (on_tokens(upstream - exact, part)).abs().max() + 1e-5
    as_products = dtype == torch.bfloat16 and not amx
    assert len(calls) == (model.config.num_hidden_layers if as_products else 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attention_products_equal_torchs_attention(dtype):
    """Padded keys take no weight, each window's own mask, the 1/sqrt(d) scale."""
    torch.manual_seed(4)
    q, k, v = (torch.randn(3, 2, 9, 8).to(dtype) for _ in range(3))
    lengths = torch.tensor([9, 4, 1])
    keep = (torch.arange(9)[None] < lengths[:, None]).to(dtype)
    mask = (1.0 - keep[:, None, None, :]) * torch.finfo(dtype).min
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    got = roformer_fast.attention_products(q, k, v, mask)
    assert got.shape == expected.shape and got.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    assert torch.allclose(got.float(), expected.float(), atol=tolerance)


def bf16_products_available() -> bool:
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


@pytest.mark.skipif(not bf16_products_available(), reason="this CPU's oneDNN has no bf16")
def test_packed_weights_give_the_unpacked_products_and_follow_a_changed_weight(monkeypatch):
    model, part = roformer(), inputs()
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    reorders = []
    reorder = roformer_fast._reorder
    monkeypatch.setattr(roformer_fast, "_reorder", lambda w: reorders.append(1) or reorder(w))
    with torch.no_grad():
        got = encode(bf16, part).float()
        again = encode(bf16, part).float()
        monkeypatch.setattr(roformer_fast, "packed", lambda owner, weight, key: weight)
        plain = encode(bf16, part).float()
    # four weights a layer, packed once, then reused
    assert len(reorders) == 4 * model.config.num_hidden_layers
    assert torch.allclose(on_tokens(got, part), on_tokens(plain, part), atol=1e-2)
    assert torch.equal(got, again)
    monkeypatch.undo()
    with torch.no_grad():  # a weight changed in place is packed again
        bf16.encoder.layer[0].intermediate.dense.weight.neg_()
        expected = bf16(**part).last_hidden_state.float()
        changed = encode(bf16, part).float()
    error = (on_tokens(changed - expected, part)).abs().max()
    assert error < 0.5 * (on_tokens(got - expected, part)).abs().max()  # not the old weight's


def test_forget_drops_the_packed_weights_and_a_torch_without_packing_uses_the_weight(
    monkeypatch,
):
    model = copy.deepcopy(roformer()).to(torch.bfloat16)
    linear = model.encoder.layer[0].intermediate.dense
    roformer_fast.dense(linear)
    assert linear in roformer_fast._PACKED
    roformer_fast.forget(model)
    assert linear not in roformer_fast._PACKED

    def missing(*_):
        raise RuntimeError("no packing here")

    monkeypatch.setattr(torch.ops.mkldnn, "_reorder_linear_weight", missing)
    assert roformer_fast._reorder(linear.weight) is linear.weight
