"""CMeEE / CBLUE: end_idx inclusive."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import get, iter_json_records, offset
from .records import Entity, Record


def read_cmeee(path: Path) -> Iterator[Record]:
    """CMeEE / CBLUE JSON or JSONL: start_idx, end_idx (inclusive), lower-case type."""
    for line, obj in iter_json_records(path):
        record = Record(get(obj, "text", path, line, str), str(path), line)
        for ent in obj.get("entities") or []:
            start = offset(ent, "start_idx", path, line)
            end = offset(ent, "end_idx", path, line) + 1
            label = str(get(ent, "type", path, line)).upper()
            record.entities.append(Entity(start, end, label, line, ent.get("entity")))
        yield record
