"""Character-per-line CoNLL, BIO or BIOES."""

from collections.abc import Iterator
from pathlib import Path

from ..io import iter_lines
from .records import ConversionError, Entity, Record


def read_conll(path: Path, encoding: str = "utf-8") -> Iterator[Record]:
    """Character-per-line CoNLL with BIO or BIOES tags; a blank line ends a sentence.

    A line is one character, spaces or tabs, then the tag (the last column). The character
    may itself be whitespace other than a space or tab (U+3000, U+00A0), as in clinical text.
    """
    chars: list[str] = []
    entities: list[Entity] = []
    open_ent: Entity | None = None
    first_line = 1

    def flush() -> Record | None:
        return Record("".join(chars), str(path), first_line, list(entities)) if chars else None

    for line_no, line in iter_lines(path, encoding):
        if not line.strip(" \t") or line.startswith("-DOCSTART-"):
            record = flush()
            if record:
                yield record
            chars, entities, open_ent, first_line = [], [], None, line_no + 1
            continue
        char, rest = line[0], line[1:]
        if char in " \t" or rest[:1] not in (" ", "\t") or not rest.strip():
            raise ConversionError(
                path,
                line_no,
                f"expected 'CHAR TAG' (a character, a space, the tag), got {line!r}",
            )
        tag = rest.split()[-1]
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
