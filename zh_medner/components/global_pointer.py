"""The span head's model: `zh_medner.GlobalPointer.v1` (its lexicon features: lexicon_flags.py).

Every span of up to `max_length` tokens gets one score per entity type in a single batched
tensor operation over the encoder's per-character vectors (Efficient GlobalPointer, Su et al.
2022): rotary positions on one query and one key projection, whose dot product scores the
span, plus a start and an end bias per type. The score band is [types, tokens, max_length]
rather than [types, tokens, tokens]: a 4000-character record costs 4000 x max_length cells,
not 16 million.

This file is shipped in the wheel (`spacy package --code`): it imports nothing from
`zh_medner`.
"""

import io

import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, PyTorchWrapper_v3, chain, torch2xp, xp2torch
from thinc.types import ArgsKwargs, Floats2d, Floats4d
from torch import nn

NEG_INF = -1e12  # score of the cells that are no span (past a doc's end)
BAND_BLOCK = 128  # rows of span scores per matrix product: bounded memory for long docs


class GlobalPointer(nn.Module):
    """Scores [batch, types, tokens, max_length]: cell (t, i, d) is span i..i+d of type t.

    The layers are made once the input width and the number of types are known
    (`build`), or from the shapes of a saved state: a pipeline loads without
    being initialised first.
    """

    def __init__(self, head_width: int, max_length: int):
        super().__init__()
        self.head_width, self.max_length = head_width, max_length
        self.qk: nn.Linear | None = None
        self.bias: nn.Linear | None = None

    def build(self, n_in: int, n_types: int) -> None:
        self.qk = nn.Linear(n_in, 2 * self.head_width)
        self.bias = nn.Linear(n_in, 2 * n_types)
        # Start with a prior of "no span" (logit about -5): random logits around 0 would
        # keep half of all candidate spans, thousands per sentence, before training.
        nn.init.constant_(self.bias.bias, -5.0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if self.qk is None and prefix + "qk.weight" in state_dict:
            n_in = state_dict[prefix + "qk.weight"].shape[1]
            self.build(n_in, state_dict[prefix + "bias.weight"].shape[0] // 2)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def rotary_table(n: int, d: int, like):
        """Each position's rotary angles as unit complex numbers (cos + i sin), [n, d/2]."""
        pos = torch.arange(n, dtype=like.dtype, device=like.device)[:, None]
        exponent = torch.arange(0, d, 2, dtype=like.dtype, device=like.device) / d
        angle = pos * torch.pow(10000.0, -exponent)  # [n, d/2]
        return torch.polar(torch.ones_like(angle), angle)

    @staticmethod
    def rotary(x, table):
        """Each pair (even, odd) of x rotated by its position's angle: one complex product,
        7x faster than rotating the halves and stacking them (equal up to float rounding)."""
        pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)))
        return torch.view_as_real(pairs * table).flatten(-2)

    def band_scores(self, q, k):
        """[b, n, L]: entry (i, d) is q[i] . k[i + d] (0 past the end). Blocks of rows as
        one matrix product each, the band read off its diagonals: 10-15x faster, forward
        and backward, than a product over a materialised [b, n, L, h] band of k."""
        b, n, h = q.shape
        L = self.max_length
        k = torch.cat([k, k.new_zeros((b, L - 1, h))], dim=1)
        out = []
        for i in range(0, n, BAND_BLOCK):
            rows = q[:, i : i + BAND_BLOCK]
            m = rows.shape[1]
            full = torch.bmm(rows, k[:, i : i + m + L - 1].transpose(1, 2))  # [b, m, m+L-1]
            s0, s1, s2 = full.stride()
            out.append(full.as_strided((b, m, L), (s0, s1 + s2, s2)))  # (j, d) -> j, j+d
        return torch.cat(out, dim=1)

    def forward(self, X, lengths):
        qk = self.qk(X)
        table = self.rotary_table(X.shape[1], self.head_width, qk)  # once for q and k
        q = self.rotary(qk[..., : self.head_width], table)
        k = self.rotary(qk[..., self.head_width :], table)
        scores = self.band_scores(q, k) / self.head_width**0.5  # [b, n, L]
        L = self.max_length
        bias = (self.bias(X) / 2).transpose(1, 2)  # [b, 2T, n]
        start, end = bias[:, 0::2], bias[:, 1::2]  # [b, T, n]
        # [b, T, n, L]: (t, i, d) reads end[t, i + d] (0 past the end). Summed from [b, T, n]
        # rows, not a permuted [b, n, L, T] band, with the mask in place: 15-20% faster.
        end = nn.functional.pad(end, (0, L - 1)).unfold(2, L, 1)
        logits = end + scores[:, None]
        logits += start[..., None]
        n = X.shape[1]
        stop = torch.arange(n, device=X.device)[:, None] + torch.arange(L, device=X.device)
        valid = stop[None] < lengths[:, None, None]  # [b, n, L]
        return logits.masked_fill_(~valid[:, None], NEG_INF)


# -------------------------------------------------------------- safe loading
# torch.load unpickles: a tampered pipeline file could run code at spacy.load. thinc calls it
# without `weights_only`, so TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in a user's environment would
# turn the check off. The head's state asks for weights only (the encoder's: transformer.py).


def _load_weights_only(module, state_bytes: bytes, device):
    module.load_state_dict(
        torch.load(io.BytesIO(state_bytes), map_location=device, weights_only=True)
    )
    return module.to(device)


def _pad(model: Model, Xs: list[Floats2d], is_train: bool):
    """List of [n_i, width] -> ([batch, max n, width], lengths)."""
    lengths = model.ops.asarray1i([len(x) for x in Xs])
    # an empty doc's array may be (0, 0): the width comes from a doc that has tokens
    width = next((x.shape[1] for x in Xs if len(x)), 0)
    n = max((len(x) for x in Xs), default=0)
    padded = model.ops.alloc3f(len(Xs), max(n, 1), width)
    for i, x in enumerate(Xs):
        if len(x):
            padded[i, : len(x)] = x

    def backprop(d_padded):
        return [
            d_padded[i, : len(x)] if len(x) else model.ops.alloc2f(*x.shape)
            for i, x in enumerate(Xs)
        ]

    return (padded, lengths), backprop


def _convert_inputs(model, inputs, is_train):
    padded, lengths = inputs
    X = xp2torch(padded, requires_grad=is_train)
    L = xp2torch(lengths)

    def backprop(d_args: ArgsKwargs):
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=(X, L), kwargs={}), backprop


def _convert_outputs(model, inputs_outputs, is_train):
    _, Y = inputs_outputs

    def backprop(dY):
        return ArgsKwargs(args=(Y,), kwargs={"grad_tensors": xp2torch(dY)})

    return torch2xp(Y), backprop


@registry.architectures("zh_medner.GlobalPointer.v1")
def build_global_pointer(
    tok2vec: Model[list[Doc], list[Floats2d]], head_width: int = 64, max_length: int = 32
) -> Model[list[Doc], Floats4d]:
    pointer = PyTorchWrapper_v3(
        GlobalPointer(head_width, max_length),
        convert_inputs=_convert_inputs,
        convert_outputs=_convert_outputs,
        deserialize_model=_load_weights_only,
    )
    model = chain(tok2vec, Model("pad_docs", _pad), pointer)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("pointer", pointer)
    model.attrs["max_length"] = max_length
    return model


def _module(model: Model):
    return model.get_ref("pointer").shims[0]._model
