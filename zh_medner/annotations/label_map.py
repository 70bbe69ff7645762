"""A label map: source label -> CMeEE label, or null to drop that label."""

import json
from pathlib import Path

from ..io import LineIndex, read_text
from ..jsonl import JSON_ERRORS
from .json_source import check_string, json_error, short
from .records import ConversionError


def read_label_map(path: Path | None, encoding: str = "utf-8") -> dict[str, str | None] | None:
    """A JSON object: source label -> CMeEE label, or null to drop that label."""
    if path is None:
        return None
    text = read_text(path, encoding)
    try:
        mapping = json.loads(text)
    except JSON_ERRORS as e:
        start = len(text) - len(text.lstrip(" \t\r\n"))
        raise json_error(e, path, text, start, LineIndex(text)) from None
    if not isinstance(mapping, dict):
        raise ConversionError(
            path, 1, 'a label map is a JSON object of label -> label or null, e.g. {"疾病": "DIS"}'
        )
    lines = LineIndex(text)
    for source, target in mapping.items():
        line = lines.line(_key_at(text, source))
        check_string(source, path, line, f"label {short(source)}")
        if target is not None and not isinstance(target, str):
            raise ConversionError(
                path, line, f"label {short(source)} maps to {short(target)}: give a label or null"
            )
        if target is not None:
            check_string(target, path, line, f"the label for {short(source)}")
    return mapping


def _key_at(text: str, key: str) -> int:
    """Where `key` is written in the file (0 when escaped some other way)."""
    for ensure_ascii in (False, True):
        i = text.find(json.dumps(key, ensure_ascii=ensure_ascii) + ":")
        i = i if i >= 0 else text.find(json.dumps(key, ensure_ascii=ensure_ascii))
        if i >= 0:
            return i
    return 0
