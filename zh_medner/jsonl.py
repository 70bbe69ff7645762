"""JSON Lines: the one reader of every JSONL input, and JSON that Python cannot read.

`read_jsonl(path)` streams a `JsonLine` (line, value) for each record. Lines are numbered as
the reading layer numbers them (zh_medner/io.py): \\n, \\r\\n or a lone \\r end a line, and
a raw \\r inside a JSON string keeps the record whole (non-strict JSON accepts raw control
characters, as many exporters write them); the record takes the number of the line it starts
on. A UTF-8 BOM at the start of the file, or of a line (files concatenated), is dropped.

A line that does not decode, is not JSON, or is blank:
- `errors="raise"` (the default): raises TextInputError naming file, line and what is wrong;
  blank lines are skipped unless `skip_blank=False`.
- `errors="record"`: gives a `JsonLine` whose `error` is that exception, and reading goes on,
  so a runner can answer every line.

Beyond invalid syntax, two valid-looking inputs make Python's decoder fail: an integer of more
digits than `sys.get_int_max_str_digits()` (4,300 by default: a ValueError) and arrays or
objects nested deeper than the recursion limit (a RecursionError). `decode_error` turns each of
the three into a message a user can act on; every JSON reader of the project (this one, the
annotation converters' JSON arrays, the HTTP service's bodies) reports them with it.
"""

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .io import BOM, EncodingError, TextInputError, binary_lines, decode_line

NESTED_TOO_DEEPLY = "nested too deeply (arrays or objects inside each other past Python's limit)"
BLANK_LINE = "blank line: JSON Lines holds one record a line"
# non-strict: raw control characters inside strings (a raw \r), as many exporters write them
DECODER = json.JSONDecoder(strict=False)
JSON_ERRORS = (ValueError, RecursionError)  # a JSONDecodeError is a ValueError
_WS = " \t\r\n"


def json_value_error(e: ValueError) -> str:
    """The message for a ValueError that the JSON decoder raised (not a JSONDecodeError)."""
    text = str(e)
    if "digits" in text and "integer" in text:
        return (
            f"a number of more than {sys.get_int_max_str_digits()} digits, over Python's limit "
            "for reading integers; write it as a string"
        )
    return (text.splitlines() or ["cannot be read"])[0][:200]


def decode_error(e: Exception, with_line: bool = False) -> str:
    """`invalid JSON: ...` for an exception of the decoder (one of JSON_ERRORS)."""
    if isinstance(e, json.JSONDecodeError):
        where = f"line {e.lineno}, column {e.colno}" if with_line else f"column {e.colno}"
        return f"invalid JSON: {e.msg} ({where})"
    if isinstance(e, RecursionError):
        return f"invalid JSON: {NESTED_TOO_DEEPLY}"
    return f"invalid JSON: {json_value_error(e)}"


def split_outside_strings(line: str) -> list[tuple[int, str]]:
    """A JSON Lines line split at each lone \\r outside a JSON string (one inside stays).

    Returns (number of \\r before the piece, piece): a piece's line number is the line's
    own plus that count, as the reading layer numbers lines.
    """
    if "\r" not in line:
        return [(0, line)]
    pieces, start, in_string, escaped = [], 0, False, False
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "\r":
            pieces.append((start, line[start:i]))
            start = i + 1
    pieces.append((start, line[start:]))
    return [(line.count("\r", 0, s), piece) for s, piece in pieces]


@dataclass(frozen=True)
class JsonLine:
    """One record of a JSON Lines file, or (errors="record") why its line holds none."""

    line: int
    value: object = None
    error: TextInputError | None = None


def _parse(piece: str, path: Path, line: int) -> JsonLine:
    piece = piece.lstrip(BOM)  # where files were concatenated
    if not piece.strip(_WS):
        return JsonLine(line, error=TextInputError(path, line, BLANK_LINE))
    try:
        return JsonLine(line, DECODER.decode(piece))
    except JSON_ERRORS as e:
        return JsonLine(line, error=TextInputError(path, line, decode_error(e)))


def read_jsonl(
    path,
    encoding: str = "utf-8",
    *,
    errors: str = "raise",
    skip_blank: bool = True,
    after: int = 0,
) -> Iterator[JsonLine]:
    """Each record of a JSON Lines file, streamed; lines up to `after` are skipped unread.

    `errors`: "raise" or "record" (see the module's docstring). A file that cannot be opened
    raises TextInputError in both modes.
    """
    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record', got {errors!r}")
    path = Path(path)
    for first, raw in binary_lines(path, encoding):
        if first + raw.count(b"\r") <= after:
            continue
        try:
            text = decode_line(raw, path, encoding, first)
        except EncodingError as e:
            if errors == "raise":
                raise
            yield JsonLine(e.line, error=e)
            continue
        for crs, piece in split_outside_strings(text):
            item = _parse(piece, path, first + crs)
            blank = item.error is not None and item.error.message == BLANK_LINE
            if item.line <= after or (blank and skip_blank):
                continue
            if item.error is not None and errors == "raise":
                raise item.error
            yield item
