"""The span head's model (zh_medner/components/global_pointer.py): span scores."""

import pytest
import torch

from zh_medner.components.global_pointer import GlobalPointer


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
