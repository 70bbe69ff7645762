"""BRAT standoff (.txt + .ann).

Offsets count characters of the .txt, and writers disagree on two of them: the brat server
reads the .txt with universal newlines (a \\r\\n counts once, brat issue #853) and keeps a
BOM as character 0, while most scripts count \\r\\n twice and drop the BOM. A T line also
stores the annotated text, so the reader takes the reading under which the most entities
match their text (brat's own on a tie); entities that match under none are reported as
text_mismatch, never moved.
"""

import re
from collections.abc import Iterator
from pathlib import Path

from ..io import check_input, decode_text, has_bom, iter_lines, read_bytes
from .records import DISCONTINUOUS, ConversionError, Entity, Record

T_LINE = re.compile(r"T\d+\t")
# relations, events, attributes, modifiers, normalisations, notes, equivalences
OTHER_LINE = re.compile(r"(?:[REAMN]\d+|#\d*|\*)\t")
T_FORMAT = "'T<n><TAB><label> <start> <end><TAB><text>'"


def read_brat(path: Path, encoding: str = "utf-8") -> Iterator[Record]:
    """BRAT standoff: a .ann file or a folder of .txt/.ann pairs; T lines are entities."""
    path = check_input(path, folder_ok=True)
    if path.is_dir():
        ann_files = sorted(path.glob("**/*.ann"))
        if not ann_files:
            raise ConversionError(path, None, "no .ann files in this folder")
    elif path.suffix != ".ann":
        raise ConversionError(path, None, "give a .ann file (its .txt beside it) or a folder")
    else:
        ann_files = [path]
    for ann in ann_files:
        txt = ann.with_suffix(".txt")
        if not txt.is_file():
            raise ConversionError(ann, None, f"no text file {txt.name} beside it")
        entities = list(read_ann(ann, encoding))
        data = read_bytes(txt)
        text, shift = _reading(decode_text(data, txt, encoding), has_bom(data, encoding), entities)
        for ent in entities:
            ent.start -= shift
            ent.end -= shift
        yield Record(text, str(ann), 1, entities)


def read_ann(ann: Path, encoding: str = "utf-8") -> Iterator[Entity]:
    for line_no, line in iter_lines(ann, encoding):
        if not line.strip():
            continue
        if T_LINE.match(line):
            yield _entity(ann, line_no, line)
        elif not OTHER_LINE.match(line):
            raise ConversionError(ann, line_no, _unknown_line(line))


def _entity(ann: Path, line_no: int, line: str) -> Entity:
    parts = line.split("\t", 2)  # the text field may hold tabs
    label, _, offsets = parts[1].partition(" ")
    if not label or not offsets:
        raise ConversionError(ann, line_no, f"malformed T line {line!r}: expected {T_FORMAT}")
    fragments = []
    for frag in offsets.split(";"):
        bounds = frag.split()
        if len(bounds) != 2 or not all(re.fullmatch("[0-9]+", b) for b in bounds):
            raise ConversionError(
                ann, line_no, f"malformed offsets {offsets!r}: expected '<start> <end>[;...]'"
            )
        fragments.append((int(bounds[0]), int(bounds[1])))
    surface = parts[2] if len(parts) > 2 else None
    if len(fragments) > 1:
        start, end = fragments[0][0], fragments[-1][1]
        return Entity(start, end, label, line_no, surface, DISCONTINUOUS)
    return Entity(*fragments[0], label, line_no, surface)


def _unknown_line(line: str) -> str:
    stripped = line.lstrip()
    if stripped != line and (T_LINE.match(stripped) or OTHER_LINE.match(stripped)):
        return f"{line[:30]!r} starts with whitespace; a BRAT line starts with its ID"
    if re.match(r"t\d+\t", line):
        return f"{line[:30]!r}: a text-bound annotation's ID is upper-case T (T1, T2, ...)"
    if line.startswith("T"):
        return f"malformed T line {line[:40]!r}: expected {T_FORMAT} (tab-separated)"
    return (
        f"unknown annotation line {line[:40]!r}: BRAT lines start with an ID T, R, E, A, M, N, "
        f"# or * and a tab; an entity is {T_FORMAT}"
    )


def _reading(text: str, had_bom: bool, entities: list[Entity]) -> tuple[str, int]:
    """(text, offset shift) of the reading under which the most entities match their text."""
    crlf_once = text.replace("\r\n", "\n")
    texts = [crlf_once, text] if crlf_once != text else [text]
    shifts = [1, 0] if had_bom else [0]  # brat's reading first: it wins ties
    best, best_score = (texts[0], shifts[0]), -1
    for shift in shifts:
        for candidate in texts:
            score = sum(
                1
                for e in entities
                if e.text is not None
                and e.reason is None
                and 0 <= e.start - shift < e.end - shift <= len(candidate)
                and candidate[e.start - shift : e.end - shift] == e.text
            )
            if score > best_score:
                best, best_score = (candidate, shift), score
    return best
