"""Character-per-line CoNLL, BIO or BIOES."""

from collections.abc import Iterator
from pathlib import Path

from .records import ConversionError, Entity, Record


def read_conll(path: Path) -> Iterator[Record]:
    """Character-per-line CoNLL with BIO or BIOES tags; a blank line ends a sentence."""
    chars: list[str] = []
    entities: list[Entity] = []
    open_ent: Entity | None = None
    first_line = 1

    def flush() -> Record | None:
        return Record("".join(chars), str(path), first_line, list(entities)) if chars else None

    with path.open(encoding="utf8") as f:
        for line_no, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("-DOCSTART-"):
                record = flush()
                if record:
                    yield record
                chars, entities, open_ent, first_line = [], [], None, line_no + 1
                continue
            parts = line.split()
            if len(parts) < 2 or len(parts[0]) != 1:
                raise ConversionError(path, line_no, f"expected 'CHAR TAG', got {line!r}")
            char, tag = parts[0], parts[-1]
            if not chars:
                first_line = line_no
            prefix, _, label = tag.partition("-")
            if tag == "O":
                open_ent = None
            elif prefix in ("B", "S") and label:
                open_ent = Entity(len(chars), len(chars) + 1, label, line_no)
                entities.append(open_ent)
                if prefix == "S":
                    open_ent = None
            elif prefix in ("I", "E", "M") and label:
                if open_ent is not None and open_ent.label == label:
                    open_ent.end = len(chars) + 1
                else:
                    # conlleval's rule: an I- that continues nothing begins an entity
                    open_ent = Entity(len(chars), len(chars) + 1, label, line_no)
                    entities.append(open_ent)
                if prefix == "E":
                    open_ent = None
            else:
                raise ConversionError(path, line_no, f"unknown tag {tag!r} (expected BIO/BIOES)")
            chars.append(char)
        record = flush()
        if record:
            yield record
