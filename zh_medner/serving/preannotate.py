"""Label Studio pre-annotation: predictions with a confidence, the texts to label first first.

Confidence comes from the span head's logits (zh_medner/components/span_head.py): cell
(t, i, d) scores the span of tokens i..i+d as type t, and a span is kept when its logit is
above the threshold (0). Each cell is one yes/no decision, with probability
p = sigmoid(logit - threshold) that the span is an entity of that type.

- A region's score is p of its span: how sure the model is that it is right.
- A text's score is the confidence of its least certain decision, kept or not:
  sigmoid(min |logit - threshold|) over every span the head considered, in [0.5, 1].
  A span kept at p = 0.55 and one rejected at p = 0.45 both give 0.55.

Why the least certain decision, rather than the mean p of the kept spans: a mean over kept
spans cannot see an entity the model almost found (a rejected span at p = 0.45 is a likely
miss), says nothing for a text with no entity, and is pulled up by the many easy spans of a
long text. One close call is what an annotator has to settle, so the text with the closest
call comes first. Longer texts hold more decisions and so tend to come earlier, which is
also where labelling time buys the most entities.

The order of the tasks (and `--select N`, the N to label next) follows a strategy of
zh_medner/training/selection.py: `least_confident` (the text score above, lowest first) or
`expected_errors` (the sum of min(p, 1 - p) over its decisions, highest first); the
active-learning simulation (docs/results.md) measured which saves more labels, and
DEFAULT_STRATEGY is that one.

Entities that only the dictionary (zh_entity_ruler) found have no logit: their regions
carry no score and they do not change the text's score. A pipeline without a span head
(spaCy's transition `ner`) gives no score; its tasks keep the input order.
"""

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from ..components.span_choice import SPANS_KEY
from ..components.span_head import NEG_INF, SCORES_KEY, SpanHead
from ..io import EncodingError, TextInputError, iter_lines, write_text_atomic
from ..jsonl import read_jsonl
from ..training.selection import DEFAULT_STRATEGY, rank, uncertainty
from .pipe import pipe_items
from .schema import (
    LabelConfig,
    Prediction,
    Region,
    RegionValue,
    model_id,
    record_error,
)

InputError = TextInputError  # an input file refused: file, line and the fix


def span_head(nlp: Language) -> SpanHead | None:
    for _, proc in nlp.pipeline:
        # by name too: a packaged pipeline may carry its own copy of the module
        if isinstance(proc, SpanHead) or type(proc).__name__ == "SpanHead":
            return proc
    return None


def _sigmoid(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))  # no overflow for large |x|


def confidences(head: SpanHead, docs: Sequence[Doc]) -> list[tuple[dict, dict]]:
    """({"least_confident", "expected_errors"}, {(start_char, end_char, label): p}) for docs
    already run through the pipeline (selection.uncertainty; each label's own threshold).

    The scores are those the head left on each doc while `predict_items` ran it
    (`SpanHead.keep_scores`); for a doc without them (a pipeline whose head does not keep
    them) the head predicts again, reading what the encoder left on the doc
    (doc._.trf_data), so only the span head runs again.
    """
    scores = [doc.user_data.pop(SCORES_KEY, None) for doc in docs]
    again = [i for i, s in enumerate(scores) if s is None]
    if again:
        for i, predicted in zip(again, head.predict([docs[i] for i in again])):
            scores[i] = predicted
    thresholds = head.label_thresholds()
    labels = head.labels
    out = []
    for i, doc in enumerate(docs):
        n = len(doc)
        cells = numpy.asarray(scores[i])[:, :n] if n else numpy.full((len(labels), 0, 1), NEG_INF)
        margins = cells - thresholds[:, None, None]
        probs = {}
        for t, start, dist in zip(*numpy.nonzero((cells > NEG_INF / 2) & (margins > 0))):
            span = doc[int(start) : int(start + dist + 1)]
            probs[(span.start_char, span.end_char, labels[t])] = _sigmoid(
                float(margins[t, start, dist])
            )
        out.append((uncertainty(cells, thresholds), probs))
    return out


def regions(doc: Doc) -> list[tuple[int, int, str, str]]:
    """Every entity of the doc: the span group (nested included) and the flat entities (the
    dictionary's drugs), each (start, end, label, text) once."""
    seen = {}
    for span in list(doc.spans.get(SPANS_KEY, [])) + list(doc.ents):
        seen[(span.start_char, span.end_char, span.label_)] = span.text
    return sorted(
        ((s, e, label, text) for (s, e, label), text in seen.items()),
        key=lambda r: (r[0], -r[1], r[2]),
    )


def prediction(
    doc: Doc,
    score: float | None,
    probs: dict,
    version: str,
    config: LabelConfig = LabelConfig(),
) -> Prediction:
    """One Label Studio prediction: `labels` results over the text, with the model's score."""
    result = []
    for start, end, label, text in regions(doc):
        if config.labels and label not in config.labels:
            continue
        p = probs.get((start, end, label))
        result.append(
            Region(
                from_name=config.from_name,
                to_name=config.to_name,
                value=RegionValue(start=start, end=end, text=text, labels=[label]),
                score=None if p is None else round(p, 4),
            )
        )
    return Prediction(
        model_version=version, result=result, score=None if score is None else round(score, 4)
    )


def _scored(head: SpanHead | None, docs: list[Doc]) -> list[tuple[dict | None, dict]]:
    """`confidences` for a batch; a batch the head cannot score is scored doc by doc, and a doc
    it cannot score has none (its regions are still predicted)."""
    if head is None:
        return [(None, {})] * len(docs)
    try:
        return confidences(head, docs)
    except Exception:
        out = []
        for doc in docs:
            try:
                out.extend(confidences(head, [doc]))
            except Exception:
                out.append((None, {}))
        return out


def predict_items(
    nlp: Language, texts: Iterable[str], batch_size: int = 32
) -> Iterator[tuple[Doc | None, dict | None, dict, str | None]]:
    """(doc, text scores or None, region probabilities, None) for each text, in order, or
    (None, None, {}, error) for a text the pipeline fails on (batch.pipe_items: the rest of
    its batch is not lost)."""
    head = span_head(nlp)
    pending: list[tuple[Doc | None, str | None]] = []

    def flush():
        docs = [doc for doc, _ in pending if doc is not None]
        scores = iter(_scored(head, docs))
        for doc, error in pending:
            yield (doc, *next(scores), None) if error is None else (None, None, {}, error)
        pending.clear()

    items = ((i, text, None) for i, text in enumerate(texts))
    with kept_scores(head):  # the head's own scores, not a second prediction
        for _, doc, error in pipe_items(nlp, items, batch_size):
            pending.append((doc, error))
            if len(pending) >= batch_size:
                yield from flush()
        yield from flush()


_KEEPING: dict[int, tuple[int, bool]] = {}  # id(head) -> (runs inside, the head's own setting)


@contextmanager
def kept_scores(head: SpanHead | None):
    """While inside, `head` leaves each doc's scores on it (`SpanHead.keep_scores`); runs that
    overlap (two generators, finished in any order) are counted, and the last one out restores
    the head's own setting. Not for two threads at once: the serving worker has one."""
    if head is None:
        yield
        return
    runs, own = _KEEPING.get(id(head), (0, getattr(head, "keep_scores", False)))
    _KEEPING[id(head)] = (runs + 1, own)
    head.keep_scores = True
    try:
        yield
    finally:
        runs, own = _KEEPING.pop(id(head))
        if runs > 1:
            _KEEPING[id(head)] = (runs - 1, own)
        else:
            head.keep_scores = own


def predict_docs(
    nlp: Language, texts: Iterable[str], batch_size: int = 32
) -> Iterator[tuple[Doc, float | None, dict]]:
    """(doc, text score or None, region probabilities) for each text, in order; a text the
    pipeline fails on is a ValueError naming its index."""
    for i, (doc, scores, probs, error) in enumerate(predict_items(nlp, texts, batch_size)):
        if error is not None:
            raise ValueError(f"texts[{i}]: {error}")
        yield doc, confidence(scores), probs


def confidence(scores: dict | None) -> float | None:
    """The text score Label Studio shows: the confidence of its least certain decision."""
    return None if scores is None else scores["least_confident"]


def pre_annotate(
    nlp: Language,
    records: Sequence[dict],
    text_key: str = "text",
    config: LabelConfig = LabelConfig(),
    batch_size: int = 32,
    strategy: str = DEFAULT_STRATEGY,
    select: int | None = None,
) -> list[dict]:
    """Label Studio tasks in the order `strategy` would label them (ties keep the input order),
    the first `select` of them when given.

    A record the pipeline fails on becomes a task without predictions, first in the file, and
    with the reason under `meta.zh_medner_error`; the other records are not lost. A pipeline
    without a span head keeps the input order."""
    version = model_id(nlp.meta)
    tasks, scores = [], []
    texts = (r[text_key] for r in records)
    for record, (doc, text_scores, probs, error) in zip(
        records, predict_items(nlp, texts, batch_size)
    ):
        if error is not None:
            tasks.append({"data": record, "predictions": [], "meta": {"zh_medner_error": error}})
            scores.append(None)
            continue
        predicted = prediction(doc, confidence(text_scores), probs, version, config)
        tasks.append({"data": record, "predictions": [predicted.model_dump(exclude_none=True)]})
        scores.append(text_scores)
    failed = [i for i, s in enumerate(scores) if s is None and not tasks[i]["predictions"]]
    scored = [i for i, s in enumerate(scores) if s is not None]
    unscored = [i for i in range(len(tasks)) if i not in set(failed) | set(scored)]
    ranked = [scored[j] for j in rank(strategy, [scores[i] for i in scored])]
    order = failed + ranked + unscored  # hand-labelling first, then the strategy's choice
    return [tasks[i] for i in order][:select]


def read_records(path: Path, text_key: str = "text") -> list[dict]:
    """Task data from a .txt (one text a line) or .jsonl file (UTF-8; a BOM is dropped);
    blank lines are skipped. A line that is no record is an InputError naming it."""
    path = Path(path)
    if path.suffix not in (".txt", ".jsonl"):
        raise InputError(path, None, "INPUT must be a .txt (one text a line) or .jsonl file")
    if path.suffix == ".txt":
        records = [{text_key: raw} for _, raw in iter_lines(path) if raw.strip()]
    else:
        records = list(_jsonl_records(path, text_key))
    if not records:
        raise InputError(path, None, "no text in the file")
    return records


def _jsonl_records(path: Path, text_key: str) -> Iterator[dict]:
    for item in read_jsonl(path, errors="record"):
        if isinstance(item.error, EncodingError):
            raise item.error
        error = item.error.message if item.error else record_error(item.value, text_key)
        if error:
            hint = " (or name the text field with --text-key)" if "missing" in error else ""
            raise InputError(path, item.line, f"{error}; fix or remove the line{hint}")
        yield item.value


def write_tasks(path: Path, tasks: list[dict]) -> None:
    """The import file, in UTF-8; a lone surrogate in a text (a JSON escape in the input, not
    valid Unicode) is kept exact by writing the file with JSON escapes."""
    text = json.dumps(tasks, ensure_ascii=False, indent=1) + "\n"
    try:
        text.encode("utf8")
    except UnicodeEncodeError:
        text = json.dumps(tasks, indent=1) + "\n"
    write_text_atomic(path, text)
