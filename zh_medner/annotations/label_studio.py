"""Label Studio JSON export."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import get, iter_json_array, offset
from .records import Entity, Record


def read_label_studio(path: Path) -> Iterator[Record]:
    """Label Studio JSON export: the latest non-cancelled annotation of each task."""
    for line, task in iter_json_array(path):
        data = get(task, "data", path, line, dict)
        text = get(data, "text", path, line, str)
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if not annotations:
            continue  # not annotated yet: no gold, so no training example
        latest = max(
            enumerate(annotations),
            key=lambda ia: (ia[1].get("updated_at") or ia[1].get("created_at") or "", ia[0]),
        )[1]
        record = Record(text, str(path), line)
        for result in get(latest, "result", path, line, list):
            if result.get("type") != "labels":
                continue  # relations, choices, text areas: not entities
            value = get(result, "value", path, line, dict)
            labels = get(value, "labels", path, line, list)
            start = offset(value, "start", path, line)
            end = offset(value, "end", path, line)
            for label in labels or [""]:
                record.entities.append(Entity(start, end, str(label), line, value.get("text")))
        yield record
