"""Scoring the clinical context (negation, uncertainty, family, history, hypothetical).

An evaluation set holds one text a line:
``{"id", "text", "case", "entities": [{"start", "end", "label", "status", "family"?,
"historical"?, "hypothetical"?}]}`` with status ``negated`` | ``uncertain`` |
``affirmed`` and the three flags true or false (false when absent). Gold entities are
put on the doc, the clinical layer runs, and each Span extension is compared with the
gold: for "negated", a positive is an entity whose gold status is negated and a
predicted positive is one with ``_.negated`` set (likewise "uncertain" with
``_.uncertain``, "family" with ``_.family`` ...).

Annotation conventions of the set: a finding asked about (有没有发烧？, 是不是胃炎？,
观察有无出血) is "uncertain"; a test item (ITE) is "negated" when its result is
negative or normal (尿蛋白阴性, 心电图未见异常); entities of types the negation
component does not cover by default (DRU, PRO, BOD, EQU, MIC) are "affirmed".
"""

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from ..components.context import EXTENSIONS
from ..components.context_marks import CUES_EXTENSION
from ..io import PathError, TextInputError
from ..jsonl import read_jsonl
from .bootstrap import f1_interval
from .gold import run_rules
from .ner import prf

STATUSES = ("negated", "uncertain", "affirmed")
RECORD_KEYS = ("id", "text", "case", "entities")
ENTITY_KEYS = ("start", "end", "label", "status")
# gold status or flag -> the Span extension that should be set for it
DIMENSIONS = {ext: ext for ext in EXTENSIONS.values()}
FLAGS = ("family", "historical", "hypothetical")


class EvalDataError(PathError):
    """A record of the evaluation set is malformed; the message names file and line."""

    def __init__(self, message: str, path=None, line: int | None = None):
        super().__init__(path, line, message)


def _where(record: dict[str, Any], source: str, index: int) -> str:
    return f"{source}:{record.get('line', index + 1)}"


def check_record(record: Any, where: str) -> dict[str, Any]:
    """Return the record if it is well formed, else raise EvalDataError naming `where`."""
    if not isinstance(record, dict):
        raise EvalDataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise EvalDataError(f"{where}: missing key(s) {missing}")
    text = record["text"]
    if not isinstance(text, str) or not text:
        raise EvalDataError(f"{where}: 'text' must be a non-empty string")
    if not isinstance(record["entities"], list):
        raise EvalDataError(f"{where}: 'entities' must be a list")
    for i, ent in enumerate(record["entities"]):
        if not isinstance(ent, dict):
            raise EvalDataError(f"{where}: entity {i} must be a JSON object")
        missing = [k for k in ENTITY_KEYS if k not in ent]
        if missing:
            raise EvalDataError(f"{where}: entity {i} is missing key(s) {missing}")
        start, end = ent["start"], ent["end"]
        if (
            not (isinstance(start, int) and isinstance(end, int))
            or isinstance(start, bool)
            or isinstance(end, bool)
        ):
            raise EvalDataError(f"{where}: entity {i} offsets must be integers")
        if not 0 <= start < end <= len(text):
            raise EvalDataError(
                f"{where}: entity {i} offsets [{start}, {end}) out of range for a text of "
                f"{len(text)} characters"
            )
        if ent["status"] not in STATUSES:
            raise EvalDataError(
                f"{where}: entity {i} status {ent['status']!r} is not one of {list(STATUSES)}"
            )
        if not isinstance(ent["label"], str) or not ent["label"]:
            raise EvalDataError(f"{where}: entity {i} label must be a non-empty string")
        for flag in FLAGS:
            if not isinstance(ent.get(flag, False), bool):
                raise EvalDataError(f"{where}: entity {i} '{flag}' must be true or false")
    return record


def read_eval_set(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL evaluation set; each record gets its 1-based line number as 'line'."""
    path = Path(path)
    records = []
    try:
        for item in read_jsonl(path):
            record = check_record(item.value, f"{path}:{item.line}")
            records.append({**record, "line": item.line})
    except TextInputError as err:  # no such file, not UTF-8, invalid JSON: file and line named
        raise EvalDataError(err.message, err.path, err.line) from None
    if not records:
        raise EvalDataError(f"{path}: no records")
    return records


def gold_doc(nlp: Language, record: dict[str, Any], where: str) -> Doc:
    """A doc of the record's text with its gold entities as doc.ents."""
    doc = nlp.make_doc(record["text"])
    spans = []
    for i, ent in enumerate(record["entities"]):
        span = doc.char_span(ent["start"], ent["end"], label=ent["label"], alignment_mode="strict")
        if span is None:
            raise EvalDataError(
                f"{where}: entity {i} [{ent['start']}, {ent['end']}) "
                f"'{record['text'][ent['start'] : ent['end']]}' does not align with token "
                "boundaries"
            )
        spans.append(span)
    try:
        doc.ents = spans
    except ValueError as err:
        raise EvalDataError(f"{where}: entities cannot be set ({err})") from None
    return doc


def _counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    return {**prf(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn, "support": tp + fn}


def gold_labels(ent: dict[str, Any]) -> dict[str, bool]:
    """The gold value of each dimension for one entity."""
    out = {"negated": ent["status"] == "negated", "uncertain": ent["status"] == "uncertain"}
    out.update({flag: bool(ent.get(flag, False)) for flag in FLAGS})
    return out


def describe(values: dict[str, bool]) -> str:
    return "+".join(d for d, v in values.items() if v) or "affirmed"


def score_context(
    nlp: Language, records: list[dict[str, Any]], source: str = "eval"
) -> dict[str, Any]:
    """Score the clinical layer of `nlp` (`gold.rules_pipeline(...)`) on gold-annotated records.

    Returns {dimension: {p, r, f, tp, fp, fn, support, f_interval}} for negated, uncertain,
    family, historical and hypothetical (`f_interval`: the 95% bootstrap interval of f over
    records, `bootstrap.f1_interval`), and "sentences", "entities", "by_case": {case:
    {"entities", "errors"}}, "by_kind": {"gold -> predicted": count}, "by_cue": {dimension:
    {cue: {"set", "right"}}} (how often each cue set the dimension, and was right), "errors".
    """
    # a set that never states a flag (the chart negation set) is not scored on it
    annotated = [
        d
        for d in DIMENSIONS
        if d not in FLAGS or any(d in e for r in records for e in r["entities"])
    ]
    per_record = {dim: defaultdict(Counter) for dim in annotated}  # record index -> counts
    by_case: dict[str, Counter] = defaultdict(Counter)
    by_kind: Counter = Counter()  # "gold -> predicted" of each entity scored wrong
    by_cue: dict[str, dict[str, Counter]] = {dim: defaultdict(Counter) for dim in annotated}
    errors = []
    n_ents = 0
    for index, record, doc, ent, gold, predicted in _scored_entities(
        nlp, records, source, annotated
    ):
        n_ents += 1
        by_case[record["case"]]["entities"] += 1
        for dim, pred in predicted.items():
            key = "tp" if pred and gold[dim] else "fp" if pred else "fn" if gold[dim] else "tn"
            per_record[dim][index][key] += 1
        _count_cues(by_cue, ent, predicted, gold)
        if predicted != gold:
            by_case[record["case"]]["errors"] += 1
            by_kind[f"{describe(gold)} -> {describe(predicted)}"] += 1
            errors.append(_error(record, doc, ent, gold, predicted))
    scores: dict[str, Any] = {}
    for dim, by_record in per_record.items():
        rows = [[by_record[i][k] for k in ("tp", "fp", "fn")] for i in range(len(records))]
        totals = (sum(row[k] for row in rows) for k in range(3))  # tp, fp, fn
        scores[dim] = {**_counts(*totals), "f_interval": f1_interval(rows)}
    scores["sentences"] = len(records)
    scores["entities"] = n_ents
    scores["by_case"] = {
        case: {"entities": c["entities"], "errors": c["errors"]}
        for case, c in sorted(by_case.items())
    }
    scores["by_kind"] = dict(by_kind.most_common())
    scores["by_cue"] = {
        dim: {cue: dict(c) for cue, c in sorted(cues.items(), key=lambda kv: -kv[1]["set"])}
        for dim, cues in by_cue.items()
    }
    scores["errors"] = errors
    return scores


def _scored_entities(nlp: Language, records: list[dict[str, Any]], source: str, annotated):
    """(record index, record, doc, entity, gold, predicted) for each gold entity once the rules
    have run; gold and predicted hold the `annotated` dimensions."""
    for index, record in enumerate(records):
        where = _where(record, source, index)
        check_record(record, where)
        doc = run_rules(nlp, gold_doc(nlp, record, where))
        gold_by_offsets = {(e["start"], e["end"]): e for e in record["entities"]}
        for ent in doc.ents:
            gold = gold_labels(gold_by_offsets[(ent.start_char, ent.end_char)])
            gold = {dim: gold[dim] for dim in annotated}
            predicted = {dim: bool(getattr(ent._, DIMENSIONS[dim])) for dim in annotated}
            yield index, record, doc, ent, gold, predicted


def _error(record: dict[str, Any], doc: Doc, ent, gold: dict, predicted: dict) -> dict[str, Any]:
    return {
        "id": record["id"],
        "line": record.get("line"),
        "case": record["case"],
        "text": record["text"],
        "sentence": ent.sent.text if doc.has_annotation("SENT_START") else "",
        "entity": ent.text,
        "label": ent.label_,
        "gold": describe(gold),
        "predicted": describe(predicted),
    }


def _count_cues(by_cue: dict, ent, predicted: dict[str, bool], gold: dict[str, bool]) -> None:
    """Count, per dimension the component set, each cue it names for it (once per entity)."""
    cues = getattr(ent._, CUES_EXTENSION) or []
    for dim, counts in by_cue.items():
        if not predicted[dim]:
            continue
        for cue in {c["cue"] for c in cues if c["attribute"] == dim}:
            counts[cue]["set"] += 1
            counts[cue]["right"] += gold[dim]
