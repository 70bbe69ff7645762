"""CMeEE / CBLUE: end_idx inclusive."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import get, items, iter_json_records, offset, record_object
from .records import Entity, Record


def read_cmeee(path: Path, encoding: str = "utf-8") -> Iterator[Record]:
    """CMeEE / CBLUE JSON or JSONL: start_idx, end_idx (inclusive), lower-case type."""
    for line, obj in iter_json_records(path, encoding):
        obj = record_object(obj, path, line)
        record = Record(get(obj, "text", path, line, str), str(path), line)
        for i, ent in enumerate(items(obj, "entities", path, line)):
            where = f"entities[{i}]"
            start = offset(ent, "start_idx", path, line, where)
            end = offset(ent, "end_idx", path, line, where) + 1
            label = get(ent, "type", path, line, str, where).upper()
            surface = get(ent, "entity", path, line, str, where, required=False)
            record.entities.append(Entity(start, end, label, line, surface))
        yield record
