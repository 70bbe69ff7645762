"""JSON and JSON Lines sources: elements with the line they start on, and typed field access."""

import json
from collections.abc import Iterator
from pathlib import Path

from .records import ConversionError


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def iter_json_array(path: Path) -> Iterator[tuple[int, object]]:
    """Yield (line, element) for each element of a top-level JSON array."""
    text = path.read_text(encoding="utf8")
    decoder = json.JSONDecoder()
    i = skip_ws(text, 0)
    if i >= len(text) or text[i] != "[":
        raise ConversionError(path, line_of(text, i), "expected a JSON array")
    i = skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise ConversionError(path, e.lineno, f"invalid JSON: {e.msg}") from None
        yield line_of(text, i), obj
        i = skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = skip_ws(text, i + 1)
        elif i < len(text) and text[i] == "]":
            return
        else:
            raise ConversionError(path, line_of(text, i), "invalid JSON: expected ',' or ']'")


def skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n\ufeff":
        i += 1
    return i


def iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    with path.open(encoding="utf8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as e:
                raise ConversionError(path, line_no, f"invalid JSON: {e.msg}") from None


def iter_json_records(path: Path) -> Iterator[tuple[int, object]]:
    """A JSON array or JSON Lines, whichever the file holds."""
    with path.open(encoding="utf8") as f:
        head = f.read(64).lstrip("\ufeff \t\r\n")
    return iter_json_array(path) if head.startswith("[") else iter_jsonl(path)


def get(obj, key: str, path: Path, line: int, kind=None):
    if not isinstance(obj, dict) or key not in obj:
        raise ConversionError(path, line, f"missing key '{key}'")
    value = obj[key]
    if kind is not None and not isinstance(value, kind):
        raise ConversionError(path, line, f"'{key}' must be {getattr(kind, '__name__', kind)}")
    return value


def offset(obj: dict, key: str, path: Path, line: int) -> int:
    value = get(obj, key, path, line)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConversionError(path, line, f"'{key}' must be an integer, got {value!r}")
    return value
