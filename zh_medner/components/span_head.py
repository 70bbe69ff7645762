"""`span_head`: a GlobalPointer span classifier for nested entities.

Every span of up to `max_length` tokens gets one score per entity type (the model:
global_pointer.py). Training uses the multilabel categorical cross-entropy, so a span can
hold several types and spans can nest. Spans scoring above their threshold are kept:
- `doc.spans[spans_key]` ("sc" by default): every predicted span, nested ones included;
- `doc.ents`: a flat, deterministic choice (`flat_choice` in span_choice.py, the converter's rule).

This file is shipped in the wheel (`spacy package --code`, beside global_pointer.py and
span_choice.py): it imports nothing else from `zh_medner`.
"""

from collections.abc import Callable, Iterable
from itertools import islice

import numpy
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from thinc.api import (
    Config,
    Model,
    set_dropout_rate,
    torch2xp,
    xp2torch,
)
from thinc.types import Floats4d

try:
    from .global_pointer import NEG_INF, _module
    from .lexicon_flags import batch_lexicon, set_lexicon
    from .span_choice import SPANS_KEY, flat_choice
except ImportError:  # `spacy package` imports each code file alone, outside its package
    from pathlib import Path

    from spacy.util import import_file

    _model = import_file("global_pointer", Path(__file__).with_name("global_pointer.py"))
    NEG_INF, _module = _model.NEG_INF, _model._module
    _flags = import_file("lexicon_flags", Path(__file__).with_name("lexicon_flags.py"))
    batch_lexicon, set_lexicon = _flags.batch_lexicon, _flags.set_lexicon
    _choice = import_file("span_choice", Path(__file__).with_name("span_choice.py"))
    SPANS_KEY, flat_choice = _choice.SPANS_KEY, _choice.flat_choice

MAX_SPANS_PER_CHAR = 4  # a bound on what one doc can hold, far above any real annotation
SCORES_KEY = "zh_medner.span_scores"  # doc.user_data: the doc's scores, where `keep_scores`
PREDICT_DOCS = 16  # docs per forward of the head at prediction, of similar lengths

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
    keep_scores = False  # also leave each doc's [types, tokens, max_length] scores on it

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

    def predict(self, docs: Iterable[Doc]) -> list[numpy.ndarray]:
        """Each doc's [types, tokens, max_length] scores. The docs run sorted by length,
        PREDICT_DOCS at a time: a batch of notes no longer pads every note to its longest."""
        docs = list(docs)
        out: list = [numpy.zeros((len(self.labels), 0, self.max_length), "f")] * len(docs)
        # an empty doc has no spans; it stays out of the model, whose layers may give it a
        # (0, 0) array that a concatenation with other features refuses (as update does)
        order = sorted((i for i in range(len(docs)) if len(docs[i])), key=lambda i: len(docs[i]))
        with batch_lexicon(self.model, [docs[i] for i in order]):
            for start in range(0, len(order), PREDICT_DOCS):
                chunk = order[start : start + PREDICT_DOCS]
                scores = self.model.ops.to_numpy(self.model.predict([docs[i] for i in chunk]))
                for j, i in enumerate(chunk):
                    out[i] = scores[j, :, : len(docs[i])]
        return out

    def set_annotations(self, docs: Iterable[Doc], scores) -> None:
        """`scores`: `predict`'s list, or a [docs, types, tokens, max_length] array."""
        labels = self.labels
        threshold = self.label_thresholds()[:, None, None]
        for i, doc in enumerate(docs):
            n = len(doc)
            cells = self.model.ops.to_numpy(scores[i])[:, :n]
            if self.keep_scores:  # for who scores confidence (pre-annotate), not predict again
                doc.user_data[SCORES_KEY] = cells
            above = numpy.flatnonzero(cells > threshold)  # 4x numpy.nonzero of the 3-d mask
            t, start, dist = numpy.unravel_index(above, cells.shape)
            inside = start + dist < n  # the model masks the rest; scores from elsewhere may not
            t, start, dist = t[inside], start[inside], dist[inside]
            cap = MAX_SPANS_PER_CHAR * n
            if len(t) > cap:  # an untrained or broken model: keep the highest-scoring spans
                keep = numpy.argpartition(-cells[t, start, dist], cap)[:cap]
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
        set_lexicon(self.model, lexicon)
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
