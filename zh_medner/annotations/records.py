"""What every annotation reader yields: text, character-offset entities, their source line."""

from dataclasses import dataclass, field

# Why an entity did not make it into the DocBin.
OUT_OF_RANGE = "out_of_range"
EMPTY = "empty"
TEXT_MISMATCH = "text_mismatch"
UNKNOWN_LABEL = "unknown_label"
MISALIGNED = "misaligned"
DISCONTINUOUS = "discontinuous"
DUPLICATE = "duplicate"
LABEL_MAP = "dropped_by_label_map"
DROP_REASONS = (
    OUT_OF_RANGE,
    EMPTY,
    TEXT_MISMATCH,
    UNKNOWN_LABEL,
    MISALIGNED,
    DISCONTINUOUS,
    DUPLICATE,
    LABEL_MAP,
)


class ConversionError(ValueError):
    def __init__(self, path, line: int | None, message: str):
        self.path, self.line = str(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


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
