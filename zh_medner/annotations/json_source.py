"""JSON and JSON Lines sources: elements with the line they start on, and typed field access.

Offsets in these formats point into JSON string values, so nothing here touches string
contents: line breaks only matter between values. JSON Lines records end at \\n, \\r\\n, or a
lone \\r outside a string; a raw \\r inside a string stays part of that string (json's
non-strict mode accepts raw control characters, as many exporters write them).
"""

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from ..io import LineIndex, check_input, read_text
from ..jsonl import DECODER, JSON_ERRORS, decode_error, read_jsonl
from .records import ConversionError

_WS = " \t\r\n"
_SURROGATE = re.compile("[\ud800-\udfff]")
_KINDS = {str: "str", int: "an integer", bool: "a boolean", list: "a list", dict: "an object"}


def type_name(value) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def iter_json_array(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, object]]:
    """Yield (line, element) for each element of a top-level JSON array; a blank file has none."""
    text = read_text(path, encoding)
    lines = LineIndex(text)
    i = skip_ws(text, 0)
    if i >= len(text):
        return
    if text[i] != "[":
        raise ConversionError(path, lines.line(i), "expected a JSON array")
    i = skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        i = skip_ws(text, i + 1)
    else:
        while True:
            try:
                obj, end = DECODER.raw_decode(text, i)
            except JSON_ERRORS as e:
                raise json_error(e, path, text, i, lines) from None
            yield lines.line(i), obj
            i = skip_ws(text, end)
            if i < len(text) and text[i] == ",":
                i = skip_ws(text, i + 1)
            elif i < len(text) and text[i] == "]":
                i = skip_ws(text, i + 1)
                break
            else:
                raise ConversionError(path, lines.line(i), "invalid JSON: expected ',' or ']'")
    if i < len(text):
        raise ConversionError(path, lines.line(i), "unexpected content after the JSON array")


def iter_jsonl(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, object]]:
    """Yield (line, value) for each non-blank line of a JSON Lines file, streamed
    (zh_medner/jsonl.py: a bad line is a ConversionError naming file and line)."""
    for item in read_jsonl(path, encoding):
        yield item.line, item.value


def json_error(e: Exception, path: Path, text: str, start: int, lines: LineIndex):
    """The ConversionError for a failure of the decoder on `text` from `start`, at the line of
    the fault: the syntax error's position, or the value past Python's limits (the long number
    if it is one, else `start`; see zh_medner/jsonl.py)."""
    if isinstance(e, json.JSONDecodeError):
        return ConversionError(path, lines.line(e.pos), f"invalid JSON: {e.msg}")
    pos = start
    if isinstance(e, ValueError):
        digits = sys.get_int_max_str_digits() + 1
        found = re.compile(r"\d{" + str(digits) + ",}").search(text, start)
        pos = found.start() if found else start
    return ConversionError(path, lines.line(pos), decode_error(e))


def iter_json_records(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, object]]:
    """A JSON array or JSON Lines, whichever the file holds."""
    if _first_char(path) == b"[":
        return iter_json_array(path, encoding)
    return iter_jsonl(path, encoding)


def _first_char(path: Path) -> bytes:
    """The first byte that is not a BOM or whitespace (b"" for a blank file)."""
    with check_input(path).open("rb") as f:
        head = f.read(3)
        head = head[3:] if head == b"\xef\xbb\xbf" else head
        while True:
            head = head.lstrip(b" \t\r\n")
            if head:
                return head[:1]
            head = f.read(4096)
            if not head:
                return b""


def record_object(value, path: Path, line: int, what: str = "the record") -> dict:
    if not isinstance(value, dict):
        raise ConversionError(
            path, line, f"{what} must be a JSON object, got {type_name(value)} {short(value)}"
        )
    return value


def short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def get(obj, key: str, path: Path, line: int, kind=None, where: str = "", required=True):
    """obj[key], checked: present (unless not `required`: then None when absent or null) and of
    `kind`. Errors name the field, prefixed by `where` (e.g. `entities[2]`)."""
    prefix = f"{where}: " if where else ""
    record_object(obj, path, line, where or "the record")
    if key not in obj or (not required and obj[key] is None):
        if required:
            raise ConversionError(path, line, f"{prefix}missing key '{key}'")
        return None
    value = obj[key]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConversionError(
                path, line, f"{prefix}'{key}' must be an integer, got {short(value)}"
            )
    elif kind is not None and not isinstance(value, kind):
        raise ConversionError(
            path,
            line,
            f"{prefix}'{key}' must be {_KINDS.get(kind, kind)}, got {type_name(value)} "
            f"{short(value)}",
        )
    if isinstance(value, str):
        check_string(value, path, line, f"{prefix}'{key}'")
    return value


def check_string(value: str, path: Path, line: int, name: str) -> str:
    """A lone surrogate (valid as a JSON escape, not as Unicode) cannot be stored or tokenized."""
    bad = _SURROGATE.search(value)
    if bad:
        raise ConversionError(
            path,
            line,
            f"{name} holds a lone surrogate U+{ord(bad.group()):04X} at offset {bad.start()}, "
            "which is not valid Unicode; fix the exporter or remove it",
        )
    return value


def offset(obj: dict, key: str, path: Path, line: int, where: str = "") -> int:
    return get(obj, key, path, line, int, where)


def items(obj: dict, key: str, path: Path, line: int, where: str = "") -> list:
    """An optional list field: [] when absent or null."""
    return get(obj, key, path, line, list, where, required=False) or []
