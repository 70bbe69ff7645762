"""What every annotation reader yields: text, character-offset entities, their source line."""

from dataclasses import dataclass, field

from ..io import TextInputError

# Why an entity did not make it into the DocBin.
OUT_OF_RANGE = "out_of_range"
EMPTY = "empty"
TEXT_MISMATCH = "text_mismatch"
UNKNOWN_LABEL = "unknown_label"
MISALIGNED = "misaligned"
DISCONTINUOUS = "discontinuous"
DUPLICATE = "duplicate"
DROPPED_BY_LABEL_MAP = "dropped_by_label_map"
DROP_REASONS = (
    OUT_OF_RANGE,
    EMPTY,
    TEXT_MISMATCH,
    UNKNOWN_LABEL,
    MISALIGNED,
    DISCONTINUOUS,
    DUPLICATE,
    DROPPED_BY_LABEL_MAP,
)


# One error type for every input problem, from decoding to a malformed field: path, line, fix.
ConversionError = TextInputError


@dataclass
class Entity:
    start: int | None
    end: int | None  # exclusive
    label: str
    line: int
    text: str | None = None  # the annotated surface form, when the format stores it
    reason: str | None = None  # set by a reader that already knows it cannot be kept


@dataclass
class Record:
    text: str
    path: str
    line: int
    entities: list[Entity] = field(default_factory=list)
    skipped: str | None = None  # why this record makes no doc (counted in the report)


# Why a record made no doc.
UNANNOTATED = "no_completed_annotation"
