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
        bias = pointer.bias(X) / 2
        angle = torch.arange(n)[:, None] * 10000.0 ** -(torch.arange(0, 4, 2) / 4)  # [n, 2]
        cos, sin = angle.cos(), angle.sin()

        def rotated(x):  # RoPE: each (even, odd) pair turned by its position's angle
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)

        q, k = rotated(qk[..., :4]), rotated(qk[..., 4:])
    assert logits.shape == (2, 3, n, 5)
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
