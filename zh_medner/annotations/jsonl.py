"""JSON Lines with character offsets (end exclusive)."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import get, iter_jsonl, offset
from .records import ConversionError, Entity, Record


def read_jsonl(path: Path) -> Iterator[Record]:
    """{"text", "entities": [{"start", "end", "label" | "category"}]}, end exclusive."""
    for line, obj in iter_jsonl(path):
        record = Record(get(obj, "text", path, line, str), str(path), line)
        for ent in obj.get("entities") or []:
            label = ent.get("label", ent.get("category")) if isinstance(ent, dict) else None
            if label is None:
                raise ConversionError(path, line, "entity needs 'label' or 'category'")
            record.entities.append(
                Entity(
                    offset(ent, "start", path, line),
                    offset(ent, "end", path, line),
                    str(label),
                    line,
                    ent.get("text"),
                )
            )
        yield record
