"""The span head's model (zh_medner/components/global_pointer.py): span scores and lexicon flags."""

import pytest
import torch

from zh_medner.components.global_pointer import GlobalPointer, _set_lexicon, build_lexicon_flags

from .test_components_span_head import blank


def test_lexicon_flags_mark_begin_middle_end_per_type():
    layer = build_lexicon_flags(max_length=8)
    _set_lexicon(layer, {"DRU": ["阿莫西林"], "SYM": ["头痛", "痛"]})
    (flags,) = layer.predict([blank().make_doc("服阿莫西林头痛")])
    # columns: DRU B/M/E, SYM B/M/E (one-character terms are never matched)
    assert flags.shape == (7, 6)
    assert flags[:, :3].tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
    ]
    assert flags[5:, 3:].tolist() == [[1, 0, 0], [0, 0, 1]]


def test_lexicon_flags_at_the_text_edges_overlaps_and_an_empty_doc():
    layer = build_lexicon_flags(max_length=4)
    # 头痛 and 头痛欲裂 share a start; 欲裂 ends at the last character; 头痛欲裂吗 is too long
    _set_lexicon(layer, {"SYM": ["头痛", "头痛欲裂", "欲裂", "头痛欲裂吗"]})
    flags, empty = layer.predict([blank().make_doc("头痛欲裂"), blank().make_doc("")])
    assert flags.tolist() == [[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]]
    assert empty.shape == (0, 3)


def test_lexicon_features_without_a_lexicon_say_how_to_give_one():
    with pytest.raises(ValueError, match=r"initialize.components.span_head.lexicon"):
        _set_lexicon(build_lexicon_flags(), None)


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
