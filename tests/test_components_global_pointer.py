"""The span head's model (zh_medner/components/global_pointer.py): span scores."""

import pytest
import torch

from zh_medner.components.global_pointer import NEG_INF, GlobalPointer


@pytest.mark.parametrize("n", [1, 7, 128, 300])
def test_band_scores_are_the_products_of_each_start_with_the_next_max_length_ends(n):
    pointer = GlobalPointer(head_width=4, max_length=5)
    q, k = torch.randn(2, n, 4), torch.randn(2, n, 4)
    band = pointer.band_scores(q, k)
    expected = torch.zeros(2, n, 5)
    for i in range(n):
        for d in range(5):
            if i + d < n:
                expected[:, i, d] = (q[:, i] * k[:, i + d]).sum(-1)
    torch.testing.assert_close(band, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n", [1, 6, 40])
def test_each_cell_is_its_span_score_plus_the_start_and_end_bias_of_its_type(n):
    torch.manual_seed(0)
    pointer = GlobalPointer(head_width=4, max_length=5)
    pointer.build(n_in=8, n_types=3)
    X, lengths = torch.randn(2, n, 8), torch.tensor([n, max(1, n // 2)])
    with torch.no_grad():
        logits = pointer(X, lengths)
        qk = pointer.qk(X)
        cos, sin = pointer.rotary_table(n, 4, qk)
        q, k = pointer.rotary(qk[..., :4], cos, sin), pointer.rotary(qk[..., 4:], cos, sin)
        bias = pointer.bias(X) / 2
    assert logits.shape == (2, 3, n, 5) and logits.is_contiguous()
    for b in range(2):
        for t in range(3):
            for i in range(n):
                for d in range(5):
                    j = i + d
                    if j >= lengths[b]:  # past the doc's end: no span
                        assert logits[b, t, i, d] == NEG_INF
                        continue
                    span = (q[b, i] * k[b, j]).sum() / 2  # / sqrt(head_width)
                    expected = span + bias[b, i, 2 * t] + bias[b, j, 2 * t + 1]
                    torch.testing.assert_close(logits[b, t, i, d], expected, atol=1e-5, rtol=1e-5)
