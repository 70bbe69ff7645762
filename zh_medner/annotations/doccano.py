"""doccano JSONL export."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import get, iter_jsonl, offset
from .records import ConversionError, Entity, Record


def read_doccano(path: Path) -> Iterator[Record]:
    """doccano JSONL: "label": [[start, end, label]] (or "entities": start_offset/end_offset)."""
    for line, obj in iter_jsonl(path):
        record = Record(get(obj, "text", path, line, str), str(path), line)
        for item in obj.get("label") or []:
            if not (isinstance(item, list) and len(item) == 3):
                raise ConversionError(
                    path, line, f"doccano label must be [start, end, label], got {item!r}"
                )
            bounds = {"start": item[0], "end": item[1]}
            start, end = (offset(bounds, k, path, line) for k in ("start", "end"))
            record.entities.append(Entity(start, end, str(item[2]), line))
        for ent in obj.get("entities") or []:
            record.entities.append(
                Entity(
                    offset(ent, "start_offset", path, line),
                    offset(ent, "end_offset", path, line),
                    str(get(ent, "label", path, line)),
                    line,
                )
            )
        yield record
