"""Records -> Docs -> DocBin, and the report that accounts for every input entity.

`records_to_docs` puts each entity in `doc.ents` (a flat, deterministic choice:
`flat_choice`, the same rule the span head uses for its predictions), only in
`doc.spans["sc"]` (it overlaps a span that wins), or in the report's drops with a reason.

`check_paths` and `write_outputs` make a conversion all-or-nothing: paths are refused
before any work, and train, dev and report are written as one set.
"""

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from ..annotations import READERS, ConversionError, Entity, Record
from ..annotations.records import (
    DROP_REASONS,
    DROPPED_BY_LABEL_MAP,
    DUPLICATE,
    EMPTY,
    MISALIGNED,
    OUT_OF_RANGE,
    TEXT_MISMATCH,
    UNANNOTATED,
    UNKNOWN_LABEL,
)
from ..components.span_choice import SPANS_KEY, flat_choice
from ..io import OptionError, PathError, check_input, check_output, same_file, write_atomic_all
from ..labels import LABELS, ordered


@dataclass
class Drop:
    path: str
    line: int
    label: str
    start: int | None
    end: int | None
    text: str | None
    reason: str


@dataclass
class Report:
    records: int = 0
    entities_in: int = 0
    in_ents: Counter = field(default_factory=Counter)
    spans_only: Counter = field(default_factory=Counter)
    dropped_per_label: dict[str, Counter] = field(
        default_factory=lambda: defaultdict(Counter)
    )  # label -> reason -> n
    drops: list[Drop] = field(default_factory=list)
    skipped_records: Counter = field(default_factory=Counter)  # records that make no doc

    @property
    def kept(self) -> int:
        return sum(self.in_ents.values()) + sum(self.spans_only.values())

    def drop(self, record: Record, ent: Entity, reason: str) -> None:
        self.dropped_per_label[ent.label][reason] += 1
        self.drops.append(
            Drop(record.path, ent.line, ent.label, ent.start, ent.end, ent.text, reason)
        )

    def to_dict(self) -> dict:
        labels = ordered(set(self.in_ents) | set(self.spans_only) | set(self.dropped_per_label))
        return {
            "records": self.records,
            "skipped_records": dict(self.skipped_records),
            "entities_in": self.entities_in,
            "kept": self.kept,
            "dropped": len(self.drops),
            "per_label": {
                label: {
                    "ents": self.in_ents[label],
                    "spans_only": self.spans_only[label],
                    "dropped": dict(self.dropped_per_label.get(label, {})),
                }
                for label in labels
            },
            "drops": [vars(d) for d in self.drops],
        }

    def table(self) -> list[tuple]:
        """Rows for the console: label, in ents, only in spans, then one column per drop reason."""
        per_label = self.to_dict()["per_label"]
        reasons = [r for r in DROP_REASONS if any(r in v["dropped"] for v in per_label.values())]
        rows = [
            (label, v["ents"], v["spans_only"], *(v["dropped"].get(r, 0) for r in reasons))
            for label, v in per_label.items()
        ]
        return [("label", "ents", "spans only", *reasons)] + rows


def record_to_doc(
    nlp: Language,
    record: Record,
    report: Report,
    labels: Sequence[str] = LABELS,
    label_map: dict[str, str | None] | None = None,
) -> Doc:
    if len(record.text) > nlp.max_length:
        # refused, not split: a split would cut entities and invent sentence boundaries
        raise ConversionError(
            record.path,
            record.line,
            f"the text has {len(record.text):,} characters, over spaCy's max_length "
            f"({nlp.max_length:,}); split it into shorter records (e.g. one per paragraph)",
        )
    doc = nlp.make_doc(record.text)
    spans: list[Span] = []
    seen = set()
    for ent in record.entities:
        report.entities_in += 1
        reason = ent.reason
        if reason is None and label_map and ent.label in label_map:
            if label_map[ent.label] is None:
                reason = DROPPED_BY_LABEL_MAP
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
    ents = flat_choice(spans, LABELS)
    doc.ents = ents
    doc.spans[SPANS_KEY] = sorted(spans, key=lambda s: (s.start, -s.end, s.label_))
    in_ents = {(s.start, s.end, s.label_) for s in ents}
    for span in spans:
        counter = (
            report.in_ents if (span.start, span.end, span.label_) in in_ents else report.spans_only
        )
        counter[span.label_] += 1
    report.records += 1
    return doc


def _check(text: str, ent: Entity, labels: Sequence[str]) -> str | None:
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


def convert(
    nlp: Language,
    input_path: Path,
    fmt: str,
    labels: Sequence[str] = LABELS,
    label_map: dict[str, str | None] | None = None,
    encoding: str = "utf-8",
    allow_empty: bool = False,
) -> tuple[list[Doc], Report]:
    """Docs and the report; an input with no records is refused unless `allow_empty`."""
    input_path = check_input_path(input_path, fmt)
    report = Report()
    docs = []
    for record in READERS[fmt](input_path, encoding):
        if record.skipped:
            report.skipped_records[record.skipped] += 1
        else:
            docs.append(record_to_doc(nlp, record, report, labels, label_map))
    if not docs and not allow_empty:
        why = "the input is empty or blank"
        if report.skipped_records[UNANNOTATED]:
            n = report.skipped_records[UNANNOTATED]
            why = f"none of its {n} tasks has a completed, non-cancelled annotation"
        raise ConversionError(
            input_path, None, f"no records to convert: {why} (--allow-empty writes empty outputs)"
        )
    return docs, report


def check_input_path(input_path: Path, fmt: str) -> Path:
    if fmt not in READERS:
        raise OptionError(f"unknown format {fmt!r}; choose from {', '.join(READERS)}")
    input_path = check_input(input_path, folder_ok=fmt == "brat")
    if input_path.is_dir() and fmt != "brat":
        raise PathError(input_path, None, f"is a folder; --format {fmt} reads one file")
    return input_path


def input_files(input_path: Path, fmt: str) -> list[Path]:
    """Every file a conversion of `input_path` reads (an output may be none of them)."""
    input_path = Path(input_path)
    if fmt != "brat":
        return [input_path]
    anns = sorted(input_path.glob("**/*.ann")) if input_path.is_dir() else [input_path]
    return [p for ann in anns for p in (ann, ann.with_suffix(".txt"))]


def check_paths(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Refuse outputs that are folders, cannot be created, are inputs, or repeat each other."""
    for i, path in enumerate(outputs):
        check_output(path, inputs)
        for other in outputs[:i]:
            if same_file(path, other):
                raise PathError(path, None, "is given for two outputs; give each its own file")


def check_dev_ratio(dev_ratio: float) -> float:
    if not 0 < dev_ratio < 1:
        raise OptionError(
            f"--dev-ratio must be above 0 and below 1 (the share of records for dev), got "
            f"{dev_ratio}" + ("; 1 would leave train empty" if dev_ratio == 1 else "")
        )
    return dev_ratio


def split_docs(
    docs: list[Doc], dev_ratio: float, seed: int, block: int = 1
) -> tuple[list[Doc], list[Doc]]:
    """Seeded shuffle of runs of `block` consecutive records, then the first `dev_ratio` share
    of the records is dev (the last run it takes may be cut short).

    Block 1 shuffles single records. A larger block holds out whole passages: where records
    are consecutive sentences of one note or book (CMeEE's are), single records leave dev's
    entities in training's neighbouring sentences, and dev scores what a model has seen.
    With a split and two docs or more, train and dev each get at least one: a ratio that
    rounds to an empty side would otherwise write an empty corpus.
    """
    if not 0 <= dev_ratio < 1:
        raise OptionError(f"dev ratio must be in [0, 1), got {dev_ratio}")
    if block < 1:
        raise OptionError(f"--dev-block must be 1 or more (records in a run), got {block}")
    starts = list(range(0, len(docs), block))
    random.Random(seed).shuffle(starts)  # block 1: the same order as shuffling the records
    order = [i for start in starts for i in range(start, min(start + block, len(docs)))]
    n_dev = round(len(docs) * dev_ratio)
    if dev_ratio > 0 and len(docs) >= 2:
        n_dev = min(max(n_dev, 1), len(docs) - 1)
    dev = sorted(order[:n_dev])
    train = sorted(order[n_dev:])
    return [docs[i] for i in train], [docs[i] for i in dev]


def write_outputs(
    train: list[Doc],
    output: Path,
    report: dict,
    dev: list[Doc] | None = None,
    dev_output: Path | None = None,
) -> None:
    """Train, dev (when given) and the report: all written, or none touched."""
    writers = {Path(output): _docbin_writer(train)}
    if dev_output is not None:
        writers[Path(dev_output)] = _docbin_writer(dev or [])
    writers[report_path(output)] = lambda tmp: srsly.write_json(tmp, report)
    write_atomic_all(writers)


def _docbin_writer(docs: list[Doc]):
    return lambda tmp: DocBin(docs=docs, store_user_data=False).to_disk(tmp)


def report_path(output: Path) -> Path:
    return Path(output).with_name(Path(output).stem + ".report.json")
