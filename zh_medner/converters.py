"""Annotation formats in, spaCy DocBin out.

Every reader yields `Record`s (text plus character-offset entities, each with the
file and line it came from). `records_to_docs` turns them into Docs and accounts
for every entity: it lands in `doc.ents` (a flat, deterministic choice), only in
`doc.spans["sc"]` (it overlaps a span that wins), or in the report's drops with
a reason. Structural problems (bad JSON, missing keys, a broken BRAT or CoNLL
line) raise `ConversionError` naming file and line, before anything is written.
"""
import json
import os
import random
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from .labels import LABELS

SPANS_KEY = "sc"

# Why an entity did not make it into the DocBin.
OUT_OF_RANGE = "out_of_range"
EMPTY = "empty"
TEXT_MISMATCH = "text_mismatch"
UNKNOWN_LABEL = "unknown_label"
MISALIGNED = "misaligned"
DISCONTINUOUS = "discontinuous"
DUPLICATE = "duplicate"
LABEL_MAP = "dropped_by_label_map"
DROP_REASONS = (OUT_OF_RANGE, EMPTY, TEXT_MISMATCH, UNKNOWN_LABEL, MISALIGNED, DISCONTINUOUS, DUPLICATE, LABEL_MAP)


class ConversionError(ValueError):
    def __init__(self, path, line: Optional[int], message: str):
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass
class Entity:
    start: Optional[int]
    end: Optional[int]  # exclusive
    label: str
    line: int
    text: Optional[str] = None  # the annotated surface form, when the format stores it
    reason: Optional[str] = None  # set by a reader that already knows it cannot be kept


@dataclass
class Record:
    text: str
    path: str
    line: int
    entities: List[Entity] = field(default_factory=list)


# ---------------------------------------------------------------- JSON helpers


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _iter_json_array(path: Path) -> Iterator[Tuple[int, object]]:
    """Yield (line, element) for each element of a top-level JSON array."""
    text = path.read_text(encoding="utf8")
    decoder = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "[":
        raise ConversionError(path, _line_of(text, i), "expected a JSON array")
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise ConversionError(path, e.lineno, f"invalid JSON: {e.msg}") from None
        yield _line_of(text, i), obj
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
        elif i < len(text) and text[i] == "]":
            return
        else:
            raise ConversionError(path, _line_of(text, i), "invalid JSON: expected ',' or ']'")


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n\ufeff":
        i += 1
    return i


def _iter_jsonl(path: Path) -> Iterator[Tuple[int, object]]:
    with path.open(encoding="utf8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as e:
                raise ConversionError(path, line_no, f"invalid JSON: {e.msg}") from None


def _iter_json_records(path: Path) -> Iterator[Tuple[int, object]]:
    """A JSON array or JSON Lines, whichever the file holds."""
    with path.open(encoding="utf8") as f:
        head = f.read(64).lstrip("\ufeff \t\r\n")
    return _iter_json_array(path) if head.startswith("[") else _iter_jsonl(path)


def _get(obj, key: str, path: Path, line: int, kind=None):
    if not isinstance(obj, dict) or key not in obj:
        raise ConversionError(path, line, f"missing key '{key}'")
    value = obj[key]
    if kind is not None and not isinstance(value, kind):
        raise ConversionError(path, line, f"'{key}' must be {getattr(kind, '__name__', kind)}")
    return value


def _offset(obj: dict, key: str, path: Path, line: int) -> int:
    value = _get(obj, key, path, line)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConversionError(path, line, f"'{key}' must be an integer, got {value!r}")
    return value


# --------------------------------------------------------------------- readers


def read_label_studio(path: Path) -> Iterator[Record]:
    """Label Studio JSON export: the latest non-cancelled annotation of each task."""
    for line, task in _iter_json_array(path):
        data = _get(task, "data", path, line, dict)
        text = _get(data, "text", path, line, str)
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if not annotations:
            continue  # not annotated yet: no gold, so no training example
        latest = max(
            enumerate(annotations),
            key=lambda ia: (ia[1].get("updated_at") or ia[1].get("created_at") or "", ia[0]),
        )[1]
        record = Record(text, str(path), line)
        for result in _get(latest, "result", path, line, list):
            if result.get("type") != "labels":
                continue  # relations, choices, text areas: not entities
            value = _get(result, "value", path, line, dict)
            labels = _get(value, "labels", path, line, list)
            start = _offset(value, "start", path, line)
            end = _offset(value, "end", path, line)
            for label in labels or [""]:
                record.entities.append(Entity(start, end, str(label), line, value.get("text")))
        yield record


def read_jsonl(path: Path) -> Iterator[Record]:
    """{"text", "entities": [{"start", "end", "label" | "category"}]}, end exclusive."""
    for line, obj in _iter_jsonl(path):
        record = Record(_get(obj, "text", path, line, str), str(path), line)
        for ent in obj.get("entities") or []:
            label = ent.get("label", ent.get("category")) if isinstance(ent, dict) else None
            if label is None:
                raise ConversionError(path, line, "entity needs 'label' or 'category'")
            record.entities.append(
                Entity(_offset(ent, "start", path, line), _offset(ent, "end", path, line), str(label), line, ent.get("text"))
            )
        yield record


def read_cmeee(path: Path) -> Iterator[Record]:
    """CMeEE / CBLUE JSON or JSONL: start_idx, end_idx (inclusive), lower-case type."""
    for line, obj in _iter_json_records(path):
        record = Record(_get(obj, "text", path, line, str), str(path), line)
        for ent in obj.get("entities") or []:
            start = _offset(ent, "start_idx", path, line)
            end = _offset(ent, "end_idx", path, line) + 1
            label = str(_get(ent, "type", path, line)).upper()
            record.entities.append(Entity(start, end, label, line, ent.get("entity")))
        yield record


def read_doccano(path: Path) -> Iterator[Record]:
    """doccano JSONL: "label": [[start, end, label]] (or "entities" with start_offset/end_offset)."""
    for line, obj in _iter_jsonl(path):
        record = Record(_get(obj, "text", path, line, str), str(path), line)
        for item in obj.get("label") or []:
            if not (isinstance(item, list) and len(item) == 3):
                raise ConversionError(path, line, f"doccano label must be [start, end, label], got {item!r}")
            bounds = {"start": item[0], "end": item[1]}
            start, end = (_offset(bounds, k, path, line) for k in ("start", "end"))
            record.entities.append(Entity(start, end, str(item[2]), line))
        for ent in obj.get("entities") or []:
            record.entities.append(
                Entity(
                    _offset(ent, "start_offset", path, line),
                    _offset(ent, "end_offset", path, line),
                    str(_get(ent, "label", path, line)),
                    line,
                )
            )
        yield record


def read_brat(path: Path) -> Iterator[Record]:
    """BRAT standoff: a .ann file or a folder of .txt/.ann pairs; T lines are entities."""
    ann_files = sorted(path.glob("**/*.ann")) if path.is_dir() else [path]
    if not ann_files:
        raise ConversionError(path, None, "no .ann files found")
    for ann in ann_files:
        txt = ann.with_suffix(".txt")
        if not txt.exists():
            raise ConversionError(ann, None, f"no text file {txt.name} beside it")
        # newline="" keeps \r\n as two characters, as BRAT counts them
        with txt.open(encoding="utf8", newline="") as f:
            record = Record(f.read(), str(ann), 1)
        with ann.open(encoding="utf8") as f:
            for line_no, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.startswith("T"):
                    continue  # relations, events, attributes, notes
                parts = line.split("\t")
                if len(parts) < 2 or " " not in parts[1]:
                    raise ConversionError(ann, line_no, f"malformed T line: {line!r}")
                label, _, offsets = parts[1].partition(" ")
                fragments = []
                for frag in offsets.split(";"):
                    bounds = frag.split()
                    if len(bounds) != 2 or not all(b.isdigit() for b in bounds):
                        raise ConversionError(ann, line_no, f"malformed offsets {offsets!r}")
                    fragments.append((int(bounds[0]), int(bounds[1])))
                surface = parts[2] if len(parts) > 2 else None
                if len(fragments) > 1:
                    start, end = fragments[0][0], fragments[-1][1]
                    record.entities.append(Entity(start, end, label, line_no, surface, DISCONTINUOUS))
                else:
                    record.entities.append(Entity(*fragments[0], label, line_no, surface))
        record.path = str(ann)
        yield record


def read_conll(path: Path) -> Iterator[Record]:
    """Character-per-line CoNLL with BIO or BIOES tags; a blank line ends a sentence."""
    chars: List[str] = []
    entities: List[Entity] = []
    open_ent: Optional[Entity] = None
    first_line = 1

    def flush() -> Optional[Record]:
        return Record("".join(chars), str(path), first_line, list(entities)) if chars else None

    with path.open(encoding="utf8") as f:
        for line_no, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("-DOCSTART-"):
                record = flush()
                if record:
                    yield record
                chars, entities, open_ent, first_line = [], [], None, line_no + 1
                continue
            parts = line.split()
            if len(parts) < 2 or len(parts[0]) != 1:
                raise ConversionError(path, line_no, f"expected 'CHAR TAG', got {line!r}")
            char, tag = parts[0], parts[-1]
            if not chars:
                first_line = line_no
            prefix, _, label = tag.partition("-")
            if tag == "O":
                open_ent = None
            elif prefix in ("B", "S") and label:
                open_ent = Entity(len(chars), len(chars) + 1, label, line_no)
                entities.append(open_ent)
                if prefix == "S":
                    open_ent = None
            elif prefix in ("I", "E", "M") and label:
                if open_ent is not None and open_ent.label == label:
                    open_ent.end = len(chars) + 1
                else:
                    # conlleval's rule: an I- that continues nothing begins an entity
                    open_ent = Entity(len(chars), len(chars) + 1, label, line_no)
                    entities.append(open_ent)
                if prefix == "E":
                    open_ent = None
            else:
                raise ConversionError(path, line_no, f"unknown tag {tag!r} (expected BIO/BIOES)")
            chars.append(char)
        record = flush()
        if record:
            yield record


READERS: Dict[str, Callable[[Path], Iterator[Record]]] = {
    "label-studio": read_label_studio,
    "brat": read_brat,
    "jsonl": read_jsonl,
    "cmeee": read_cmeee,
    "conll": read_conll,
    "doccano": read_doccano,
}


# --------------------------------------------------------------- docs + report


@dataclass
class Drop:
    path: str
    line: int
    label: str
    start: Optional[int]
    end: Optional[int]
    text: Optional[str]
    reason: str


@dataclass
class Report:
    records: int = 0
    entities_in: int = 0
    in_ents: Counter = field(default_factory=Counter)
    spans_only: Counter = field(default_factory=Counter)
    dropped: Dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    drops: List[Drop] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return sum(self.in_ents.values()) + sum(self.spans_only.values())

    def drop(self, record: Record, ent: Entity, reason: str) -> None:
        self.dropped[ent.label][reason] += 1
        self.drops.append(Drop(record.path, ent.line, ent.label, ent.start, ent.end, ent.text, reason))

    def to_dict(self) -> dict:
        labels = sorted(set(self.in_ents) | set(self.spans_only) | set(self.dropped), key=_label_order)
        return {
            "records": self.records,
            "entities_in": self.entities_in,
            "kept": self.kept,
            "dropped": len(self.drops),
            "per_label": {
                label: {
                    "ents": self.in_ents[label],
                    "spans_only": self.spans_only[label],
                    "dropped": dict(self.dropped.get(label, {})),
                }
                for label in labels
            },
            "drops": [vars(d) for d in self.drops],
        }


    def table(self) -> List[Tuple]:
        """Rows for the console: label, in ents, only in spans, then one column per drop reason."""
        per_label = self.to_dict()["per_label"]
        reasons = [r for r in DROP_REASONS if any(r in v["dropped"] for v in per_label.values())]
        rows = [
            (label, v["ents"], v["spans_only"], *(v["dropped"].get(r, 0) for r in reasons))
            for label, v in per_label.items()
        ]
        return [("label", "ents", "spans only", *reasons)] + rows


def _label_order(label: str):
    return (LABELS.index(label) if label in LABELS else len(LABELS), label)


def flat_choice(spans: Sequence[Span]) -> List[Span]:
    """The spans for doc.ents: outermost wins, then longer, then earlier.

    A span that contains another is longer than it, so taking the longest first
    keeps outer spans; ties break on start, then label order, so the choice is
    deterministic.
    """
    chosen: List[Span] = []
    taken = set()
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start, _label_order(s.label_))):
        if not taken.intersection(range(span.start, span.end)):
            chosen.append(span)
            taken.update(range(span.start, span.end))
    return sorted(chosen, key=lambda s: s.start)


def record_to_doc(
    nlp: Language,
    record: Record,
    report: Report,
    labels: Sequence[str] = LABELS,
    label_map: Optional[Dict[str, Optional[str]]] = None,
) -> Doc:
    doc = nlp.make_doc(record.text)
    spans: List[Span] = []
    seen = set()
    for ent in record.entities:
        report.entities_in += 1
        reason = ent.reason
        if reason is None and label_map and ent.label in label_map:
            if label_map[ent.label] is None:
                reason = LABEL_MAP
            else:
                ent.label = label_map[ent.label]
        reason = reason or _check(record.text, ent, labels)
        span = None
        if reason is None:
            span = doc.char_span(ent.start, ent.end, label=ent.label, alignment_mode="strict")
            if span is None:
                reason = MISALIGNED
            elif (span.start, span.end, span.label_) in seen:
                reason = DUPLICATE
        if reason:
            report.drop(record, ent, reason)
            continue
        seen.add((span.start, span.end, span.label_))
        spans.append(span)
    ents = flat_choice(spans)
    doc.ents = ents
    doc.spans[SPANS_KEY] = sorted(spans, key=lambda s: (s.start, -s.end, s.label_))
    in_ents = {(s.start, s.end, s.label_) for s in ents}
    for span in spans:
        counter = report.in_ents if (span.start, span.end, span.label_) in in_ents else report.spans_only
        counter[span.label_] += 1
    report.records += 1
    return doc


def _check(text: str, ent: Entity, labels: Sequence[str]) -> Optional[str]:
    if ent.label not in labels:
        return UNKNOWN_LABEL
    if ent.start < 0 or ent.end > len(text) or ent.start > len(text):
        return OUT_OF_RANGE
    if ent.start >= ent.end or not text[ent.start : ent.end].strip():
        return EMPTY
    if ent.text is not None and ent.text != text[ent.start : ent.end]:
        return TEXT_MISMATCH
    if text[ent.start : ent.end] != text[ent.start : ent.end].strip():
        return MISALIGNED  # whitespace at an edge: no token boundary there
    return None


def read_label_map(path: Optional[Path]) -> Optional[Dict[str, Optional[str]]]:
    """A JSON object: source label -> CMeEE label, or null to drop that label."""
    if path is None:
        return None
    try:
        mapping = json.loads(Path(path).read_text(encoding="utf8"))
    except json.JSONDecodeError as e:
        raise ConversionError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    if not isinstance(mapping, dict) or not all(v is None or isinstance(v, str) for v in mapping.values()):
        raise ConversionError(path, 1, "a label map is a JSON object of label -> label or null")
    return mapping


def convert(
    nlp: Language,
    input_path: Path,
    fmt: str,
    labels: Sequence[str] = LABELS,
    label_map: Optional[Dict[str, Optional[str]]] = None,
) -> Tuple[List[Doc], Report]:
    if fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}; choose from {sorted(READERS)}")
    if not input_path.exists():
        raise ConversionError(input_path, None, "no such file or folder")
    report = Report()
    docs = [record_to_doc(nlp, r, report, labels, label_map) for r in READERS[fmt](input_path)]
    return docs, report


def split_docs(docs: List[Doc], dev_ratio: float, seed: int) -> Tuple[List[Doc], List[Doc]]:
    """Seeded shuffle, then the first `dev_ratio` share is dev."""
    if not 0 <= dev_ratio < 1:
        raise ValueError(f"dev ratio must be in [0, 1), got {dev_ratio}")
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_dev = round(len(docs) * dev_ratio)
    dev = sorted(order[:n_dev])
    train = sorted(order[n_dev:])
    return [docs[i] for i in train], [docs[i] for i in dev]


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, so no half-written file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise whoever reads the output
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_docbin(docs: Iterable[Doc], path: Path) -> None:
    write_atomic(path, lambda tmp: DocBin(docs=docs, store_user_data=False).to_disk(tmp))


def report_path(output: Path) -> Path:
    return output.with_name(output.stem + ".report.json")
