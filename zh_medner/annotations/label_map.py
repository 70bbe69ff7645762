"""A label map: source label -> CMeEE label, or null to drop that label."""

import json
from pathlib import Path

from .records import ConversionError


def read_label_map(path: Path | None) -> dict[str, str | None] | None:
    """A JSON object: source label -> CMeEE label, or null to drop that label."""
    if path is None:
        return None
    try:
        mapping = json.loads(Path(path).read_text(encoding="utf8"))
    except json.JSONDecodeError as e:
        raise ConversionError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    if not isinstance(mapping, dict) or not all(
        v is None or isinstance(v, str) for v in mapping.values()
    ):
        raise ConversionError(path, 1, "a label map is a JSON object of label -> label or null")
    return mapping
