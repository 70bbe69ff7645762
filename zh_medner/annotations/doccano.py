"""doccano JSONL export."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import check_string, get, items, iter_jsonl, offset, record_object, short
from .records import ConversionError, Entity, Record


def read_doccano(path: Path, encoding: str = "utf-8") -> Iterator[Record]:
    """doccano JSONL: "label": [[start, end, label]] (or "entities": start_offset/end_offset)."""
    for line, obj in iter_jsonl(path, encoding):
        obj = record_object(obj, path, line)
        record = Record(get(obj, "text", path, line, str), str(path), line)
        for i, item in enumerate(items(obj, "label", path, line)):
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], str)):
                raise ConversionError(
                    path,
                    line,
                    f"label[{i}]: a doccano label must be [start, end, label], got {short(item)}",
                )
            bounds = {"start": item[0], "end": item[1]}
            start, end = (offset(bounds, k, path, line, f"label[{i}]") for k in ("start", "end"))
            label = check_string(item[2], path, line, f"label[{i}]: the label")
            record.entities.append(Entity(start, end, label, line))
        for i, ent in enumerate(items(obj, "entities", path, line)):
            where = f"entities[{i}]"
            record.entities.append(
                Entity(
                    offset(ent, "start_offset", path, line, where),
                    offset(ent, "end_offset", path, line, where),
                    get(ent, "label", path, line, str, where),
                    line,
                )
            )
        yield record
