"""`span_head`: a GlobalPointer span classifier for nested entities.

Every span of up to `max_length` tokens gets one score per entity type in a single
batched tensor operation over the encoder's per-character vectors (Efficient
GlobalPointer, Su et al. 2022): rotary positions on one query and one key
projection, whose dot product scores the span, plus a start and an end bias per
type. Training uses the multilabel categorical cross-entropy, so a span can hold
several types and spans can nest. Spans scoring above 0 are kept:
- `doc.spans[spans_key]` ("sc" by default): every predicted span, nested ones included;
- `doc.ents`: a flat, deterministic choice (`flat_choice`, the converter's rule).

The score band is [types, tokens, max_length] rather than [types, tokens, tokens]:
a 4000-character record costs 4000 x max_length cells, not 16 million.

This file is shipped in the wheel (`spacy package --code`): it imports nothing
from `zh_medner`.
"""

from collections.abc import Callable, Iterable, Sequence
from itertools import islice

import numpy
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.scorer import Scorer
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from thinc.api import (
    Config,
    Model,
    PyTorchWrapper_v3,
    chain,
    set_dropout_rate,
    torch2xp,
    xp2torch,
)
from thinc.types import ArgsKwargs, Floats2d, Floats4d

SPANS_KEY = "sc"
NEG_INF = -1e12  # score of the cells that are no span (past a doc's end)
MAX_SPANS_PER_CHAR = 4  # a bound on what one doc can hold, far above any real annotation
BAND_BLOCK = 128  # rows of span scores per matrix product: bounded memory for long docs


def flat_choice(spans: Sequence[Span], label_order: Sequence[str] = ()) -> list[Span]:
    """The spans for doc.ents: outermost wins, then longer, then earlier.

    A span that contains another is longer than it, so taking the longest first
    keeps outer spans; ties break on start, then label order, so the choice is
    deterministic.
    """
    rank = {label: i for i, label in enumerate(label_order)}

    def key(s: Span):
        return (-(s.end - s.start), s.start, rank.get(s.label_, len(rank)), s.label_)

    chosen: list[Span] = []
    taken = numpy.zeros(max((s.end for s in spans), default=0), dtype=bool)
    for span in sorted(spans, key=key):
        if not taken[span.start : span.end].any():
            chosen.append(span)
            taken[span.start : span.end] = True
    return sorted(chosen, key=lambda s: s.start)


# ----------------------------------------------------------------- the model


def _pointer_module(head_width: int, max_length: int):
    import torch
    from torch import nn

    class GlobalPointer(nn.Module):
        """Scores [batch, types, tokens, max_length]: cell (t, i, d) is span i..i+d of type t.

        The layers are made once the input width and the number of types are known
        (`build`), or from the shapes of a saved state: a pipeline loads without
        being initialised first.
        """

        def __init__(self):
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

        def rotary(self, x):
            n, d = x.shape[1], x.shape[2]
            pos = torch.arange(n, dtype=x.dtype, device=x.device)[:, None]
            freq = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=x.dtype, device=x.device) / d)
            angle = pos * freq  # [n, d/2]
            cos, sin = angle.cos(), angle.sin()
            even, odd = x[..., 0::2], x[..., 1::2]
            return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)

        def band(self, x):
            """[b, n, ...] -> [b, n, L, ...]: entry (i, d) is x[i + d] (zeros past the end)."""
            pad = torch.zeros(
                (x.shape[0], self.max_length - 1) + x.shape[2:], dtype=x.dtype, device=x.device
            )
            padded = torch.cat([x, pad], dim=1)
            return padded.unfold(1, self.max_length, 1).movedim(-1, 2)

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
            q = self.rotary(qk[..., : self.head_width])
            k = self.rotary(qk[..., self.head_width :])
            scores = self.band_scores(q, k) / self.head_width**0.5  # [b, n, L]
            bias = self.bias(X) / 2
            start, end = bias[..., 0::2], bias[..., 1::2]  # [b, n, T]
            logits = (
                scores[:, None]
                + start.permute(0, 2, 1)[..., None]
                + self.band(end).permute(0, 3, 1, 2)
            )
            n = X.shape[1]
            stop = torch.arange(n, device=X.device)[:, None] + torch.arange(
                self.max_length, device=X.device
            )
            valid = stop[None] < lengths[:, None, None]  # [b, n, L]
            return logits.masked_fill(~valid[:, None], NEG_INF)

    return GlobalPointer()


# -------------------------------------------------------------- safe loading
# torch.load unpickles: a tampered pipeline file could run code at spacy.load. thinc calls it
# without `weights_only`, so TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in a user's environment would
# turn the check off. The head's state asks for weights only (the encoder's: transformer.py).


def _load_weights_only(module, state_bytes: bytes, device):
    import io

    import torch

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
        _pointer_module(head_width, max_length),
        convert_inputs=_convert_inputs,
        convert_outputs=_convert_outputs,
        deserialize_model=_load_weights_only,
    )
    model = chain(tok2vec, Model("pad_docs", _pad), pointer)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("pointer", pointer)
    model.attrs["max_length"] = max_length
    return model


# ------------------------------------------------------------ lexicon features


@registry.architectures("zh_medner.LexiconFlags.v1")
def build_lexicon_flags(max_length: int = 16) -> Model[list[Doc], list[Floats2d]]:
    """SoftLexicon-style features: per character, B/M/E flags for each lexicon type whose terms
    match there. No weights; the terms are set at initialize and saved with the model."""
    lookup: dict = {}  # built once per terms dict: term -> type indices

    def forward(model: Model, docs: list[Doc], is_train: bool):
        terms = model.attrs["terms"]
        if lookup.get("source") is not terms:
            lookup.clear()
            lookup.update(source=terms, types=sorted(terms), index={})
            for k, label in enumerate(lookup["types"]):
                for term in terms[label]:
                    lookup["index"].setdefault(term, []).append(k)
        index, width = lookup["index"], 3 * len(lookup["types"])
        out = []
        for doc in docs:
            chars = "".join(t.text for t in doc)  # one token per character
            flags = numpy.zeros((len(doc), width), dtype="float32")
            for i in range(len(chars)):
                for n in range(2, min(max_length, len(chars) - i) + 1):
                    for k in index.get(chars[i : i + n], ()):
                        flags[i, 3 * k] = 1.0
                        flags[i + 1 : i + n - 1, 3 * k + 1] = 1.0
                        flags[i + n - 1, 3 * k + 2] = 1.0
            out.append(model.ops.asarray2f(flags))
        return out, lambda d_out: []

    return Model(
        "lexicon_flags", forward, attrs={"terms": {}, "max_length": max_length}, dims={"nO": None}
    )


def _set_lexicon(model: Model, lexicon: dict | None) -> None:
    for node in model.walk():
        if node.name == "lexicon_flags":
            if not lexicon:
                raise ValueError(
                    "the span head's model has lexicon features but no lexicon was given: set "
                    "[initialize.components.span_head.lexicon] (e.g. assets/lexicon_cmekg.json)"
                )
            node.attrs["terms"] = {label: list(terms) for label, terms in sorted(lexicon.items())}
            node.set_dim("nO", 3 * len(lexicon), force=True)


def _module(model: Model):
    return model.get_ref("pointer").shims[0]._model


# -------------------------------------------------------------- the component


def _span_head_score(examples: Iterable[Example], *, spans_key: str = SPANS_KEY, **kwargs) -> dict:
    """ents_p/r/f (flat) and spans_sc_p/r/f (nested included: the CMeEE metric), each per type.
    `spans_key` is the head's (the component passes its settings to its scorer)."""
    examples = list(examples)
    scores = Scorer.score_spans(examples, "ents", **kwargs)
    scores.update(
        Scorer.score_spans(
            examples,
            f"spans_{spans_key}",
            getter=lambda doc, attr: (
                doc.spans.get(spans_key, [])
                if doc.has_annotation("ENT_IOB") or spans_key in doc.spans
                else []
            ),
            has_annotation=lambda doc: spans_key in doc.spans or doc.has_annotation("ENT_IOB"),
            allow_overlap=True,
            **kwargs,
        )
    )
    return scores


@registry.scorers("zh_medner.span_head_scorer.v1")
def make_span_head_scorer() -> Callable:
    return _span_head_score


DEFAULT_MODEL = """
[model]
@architectures = "zh_medner.GlobalPointer.v1"
head_width = 64
max_length = 32

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 4
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""


def _registered(name: str):
    """A decorator that keeps the first registration: the zh-medner library and a packaged
    pipeline both ship this module, and spaCy refuses a second, different factory (E004)."""
    return (lambda func: func) if name in registry.factories else None


@(
    _registered("span_head")
    or Language.factory(
        "span_head",
        assigns=["doc.ents", "doc.spans"],
        default_config={
            "model": Config().from_str(DEFAULT_MODEL)["model"],
            "threshold": 0.0,
            "spans_key": SPANS_KEY,
            "scorer": {"@scorers": "zh_medner.span_head_scorer.v1"},
        },
        default_score_weights={
            "spans_sc_f": 1.0,
            "spans_sc_p": 0.0,
            "spans_sc_r": 0.0,
            "ents_f": 0.0,
            "ents_p": 0.0,
            "ents_r": 0.0,
        },
    )
)
def make_span_head(
    nlp: Language,
    name: str,
    model: Model,
    threshold: float,
    spans_key: str,
    scorer: Callable | None,
):
    """Create a span head: every span of up to the model's `max_length` tokens scored per label.

    model: a Model[List[Doc], Floats4d] of scores [docs, labels, tokens, max_length]
        (zh_medner.GlobalPointer.v1).
    threshold: a span is kept where its score is above it (0: the loss's natural boundary);
        per-label thresholds tuned after training override it.
    spans_key: the span group the head writes every kept span to, nested ones included
        (`doc.ents` gets a flat choice of them), and reads gold spans from.
    scorer: the scoring method; zh_medner.span_head_scorer.v1 gives ents_p/r/f and
        spans_{spans_key}_p/r/f.
    """
    return SpanHead(nlp.vocab, model, name, threshold=threshold, spans_key=spans_key, scorer=scorer)


class SpanHead(TrainablePipe):
    def __init__(
        self,
        vocab,
        model: Model,
        name: str = "span_head",
        *,
        threshold: float = 0.0,
        spans_key: str = SPANS_KEY,
        scorer=None,
    ):
        self.vocab, self.model, self.name = vocab, model, name
        self.scorer = scorer
        # thresholds: per-label overrides of `threshold`, tuned after training on held-out
        # training data (zh_medner/training/thresholds.py) and saved with the labels
        self.cfg = {
            "labels": [],
            "spans_key": spans_key,
            "threshold": threshold,
            "thresholds": {},
            "width": None,
        }

    @property
    def key(self) -> str:
        """The span group the head writes and reads gold spans from (spancat's name for it)."""
        return self.cfg.get("spans_key", SPANS_KEY)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def max_length(self) -> int:
        return self.model.attrs["max_length"]

    def add_label(self, label: str) -> int:
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        if self.cfg["width"] is not None:
            raise ValueError(
                f"[{self.name}] cannot add label {label!r} after the model is initialised"
            )
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def label_thresholds(self) -> numpy.ndarray:
        """The score a span of each label must pass: its tuned threshold, else `threshold`."""
        tuned = self.cfg.get("thresholds") or {}
        return numpy.array([tuned.get(label, self.cfg["threshold"]) for label in self.labels])

    # ---------------------------------------------------------------- predict

    def predict(self, docs: Iterable[Doc]):
        docs = list(docs)
        if not any(len(d) for d in docs):
            return self.model.ops.alloc4f(len(docs), len(self.labels), 0, self.max_length)
        return self.model.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], scores) -> None:
        scores = self.model.ops.to_numpy(scores)
        labels = self.labels
        threshold = self.label_thresholds()[:, None, None]
        for i, doc in enumerate(docs):
            n = len(doc)
            t, start, dist = numpy.nonzero(scores[i, :, :n] > threshold)
            inside = start + dist < n  # the model masks the rest; scores from elsewhere may not
            t, start, dist = t[inside], start[inside], dist[inside]
            cap = MAX_SPANS_PER_CHAR * n
            if len(t) > cap:  # an untrained or broken model: keep the highest-scoring spans
                keep = numpy.argpartition(-scores[i, t, start, dist], cap)[:cap]
                t, start, dist = t[keep], start[keep], dist[keep]
            spans = [
                Span(doc, int(s), int(s + d + 1), label=labels[k])
                for k, s, d in zip(t, start, dist)
            ]
            spans.sort(key=lambda s: (s.start, -s.end, s.label_))
            doc.spans[self.key] = spans
            doc.ents = flat_choice(spans, labels)

    # ---------------------------------------------------------------- training

    def gold_spans(self, example: Example) -> list[tuple[int, int, int]]:
        """(type, start, end) in the predicted doc's tokens: doc.spans[spans_key] when present,
        else ents.
        """
        ref = example.reference
        spans = (
            ref.spans[self.key] if self.key in ref.spans and len(ref.spans[self.key]) else ref.ents
        )
        index = {label: i for i, label in enumerate(self.labels)}
        out = []
        for span in spans:
            if span.label_ not in index:
                continue
            aligned = example.predicted.char_span(span.start_char, span.end_char)
            if aligned is not None:
                out.append((index[span.label_], aligned.start, aligned.end))
        return out

    def get_loss(self, examples: Iterable[Example], scores) -> tuple[float, Floats4d]:
        """Multilabel categorical cross-entropy per (doc, type), averaged."""
        import torch

        examples = list(examples)
        target = numpy.zeros(scores.shape, dtype="float32")
        for i, eg in enumerate(examples):
            for t, start, end in self.gold_spans(eg):
                if end - start <= self.max_length:
                    target[i, t, start, end - start - 1] = 1.0
        logits = xp2torch(scores, requires_grad=True)
        y = torch.from_numpy(target).to(logits.device).flatten(2)
        pred = logits.flatten(2)
        pred = (1 - 2 * y) * pred
        zeros = torch.zeros_like(pred[..., :1])
        neg = torch.logsumexp(torch.cat([pred - y * 1e12, zeros], -1), -1)
        pos = torch.logsumexp(torch.cat([pred - (1 - y) * 1e12, zeros], -1), -1)
        loss = (neg + pos).mean()
        loss.backward()
        return float(loss.detach()), torch2xp(logits.grad)

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses=None):
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "SpanHead.update")
        set_dropout_rate(self.model, drop)
        examples = [eg for eg in examples if len(eg.predicted)]
        if not examples:
            return losses
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def initialize(
        self, get_examples: Callable[[], Iterable[Example]], *, nlp=None, labels=None, lexicon=None
    ) -> None:
        validate_get_examples(get_examples, f"{self.name}.initialize")
        if labels is None:
            found = set()
            for eg in get_examples():
                ref = eg.reference
                for span in list(ref.ents) + list(ref.spans.get(self.key, [])):
                    found.add(span.label_)
            labels = sorted(found)
        for label in labels:
            self.add_label(label)
        if not self.labels:
            raise ValueError(Errors.E143.format(name=self.name))
        docs = [eg.predicted for eg in islice(get_examples(), 10)]
        _set_lexicon(self.model, lexicon)
        tok2vec = self.model.get_ref("tok2vec")
        tok2vec.initialize(X=docs)
        sample = [d for d in docs if len(d)][:1]
        width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
        if not width:
            width = tok2vec.predict(sample)[0].shape[1]
        self.cfg["width"] = int(width)
        _module(self.model).build(self.cfg["width"], len(self.labels))
        self.model.initialize()

    # ---------------------------------------------------------- serialisation
    # The torch layers are made from the saved shapes, so loading needs no initialize.
