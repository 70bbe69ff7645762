"""Label Studio JSON export."""

from collections.abc import Iterator
from pathlib import Path

from .json_source import check_string, get, items, iter_json_array, offset, record_object, short
from .records import UNANNOTATED, ConversionError, Entity, Record


def read_label_studio(path: Path, encoding: str = "utf-8") -> Iterator[Record]:
    """Label Studio JSON export: the latest non-cancelled annotation of each task."""
    for line, task in iter_json_array(path, encoding):
        task = record_object(task, path, line, "the task")
        data = get(task, "data", path, line, dict)
        text = get(data, "text", path, line, str, "data")
        annotations = []
        for i, a in enumerate(items(task, "annotations", path, line)):
            where = f"annotations[{i}]"
            get(a, "was_cancelled", path, line, bool, where, required=False)
            for key in ("updated_at", "created_at"):
                get(a, key, path, line, str, where, required=False)
            if not a.get("was_cancelled"):
                annotations.append((i, a))
        record = Record(text, str(path), line)
        if not annotations:
            record.skipped = UNANNOTATED  # no gold, so no training example
            yield record
            continue
        # the latest by time, then by position
        i, latest = max(annotations, key=lambda ia: (_when(ia[1]), ia[0]))
        for j, result in enumerate(get(latest, "result", path, line, list, f"annotations[{i}]")):
            where = f"annotations[{i}].result[{j}]"
            if get(result, "type", path, line, str, where, required=False) != "labels":
                continue  # relations, choices, text areas: not entities
            value = get(result, "value", path, line, dict, where)
            where += ".value"
            labels = get(value, "labels", path, line, list, where)
            for k, label in enumerate(labels):
                if not isinstance(label, str):
                    raise ConversionError(
                        path, line, f"{where}: 'labels[{k}]' must be str, got {short(label)}"
                    )
                check_string(label, path, line, f"{where}: 'labels[{k}]'")
            start = offset(value, "start", path, line, where)
            end = offset(value, "end", path, line, where)
            surface = get(value, "text", path, line, str, where, required=False)
            for label in labels or [""]:  # no label: reported as unknown_label
                record.entities.append(Entity(start, end, label, line, surface))
        yield record


def _when(annotation: dict) -> str:
    return annotation.get("updated_at") or annotation.get("created_at") or ""
