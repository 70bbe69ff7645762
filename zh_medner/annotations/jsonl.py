"""JSON Lines with character offsets (end exclusive)."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import get, items, iter_jsonl, offset, record_object
from .records import ConversionError, Entity, Record


def read_jsonl(path: Path, encoding: str = "utf-8") -> Iterator[Record]:
    """{"text", "entities": [{"start", "end", "label" | "category"}]}, end exclusive."""
    for line, obj in iter_jsonl(path, encoding):
        obj = record_object(obj, path, line)
        record = Record(get(obj, "text", path, line, str), str(path), line)
        for i, ent in enumerate(items(obj, "entities", path, line)):
            where = f"entities[{i}]"
            ent = record_object(ent, path, line, where)
            key = "label" if "label" in ent else "category"
            if key not in ent:
                raise ConversionError(path, line, f"{where}: entity needs 'label' or 'category'")
            record.entities.append(
                Entity(
                    offset(ent, "start", path, line, where),
                    offset(ent, "end", path, line, where),
                    get(ent, key, path, line, str, where),
                    line,
                    get(ent, "text", path, line, str, where, required=False),
                )
            )
        yield record
