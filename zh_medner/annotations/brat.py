"""BRAT standoff (.txt + .ann)."""

from collections.abc import Iterator
from pathlib import Path

from .records import DISCONTINUOUS, ConversionError, Entity, Record


def read_brat(path: Path) -> Iterator[Record]:
    """BRAT standoff: a .ann file or a folder of .txt/.ann pairs; T lines are entities."""
    ann_files = sorted(path.glob("**/*.ann")) if path.is_dir() else [path]
    if not ann_files:
        raise ConversionError(path, None, "no .ann files found")
    for ann in ann_files:
        txt = ann.with_suffix(".txt")
        if not txt.exists():
            raise ConversionError(ann, None, f"no text file {txt.name} beside it")
        # newline="" keeps \r\n as two characters, as BRAT counts them
        with txt.open(encoding="utf8", newline="") as f:
            record = Record(f.read(), str(ann), 1)
        with ann.open(encoding="utf8") as f:
            for line_no, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.startswith("T"):
                    continue  # relations, events, attributes, notes
                parts = line.split("\t")
                if len(parts) < 2 or " " not in parts[1]:
                    raise ConversionError(ann, line_no, f"malformed T line: {line!r}")
                label, _, offsets = parts[1].partition(" ")
                fragments = []
                for frag in offsets.split(";"):
                    bounds = frag.split()
                    if len(bounds) != 2 or not all(b.isdigit() for b in bounds):
                        raise ConversionError(ann, line_no, f"malformed offsets {offsets!r}")
                    fragments.append((int(bounds[0]), int(bounds[1])))
                surface = parts[2] if len(parts) > 2 else None
                if len(fragments) > 1:
                    start, end = fragments[0][0], fragments[-1][1]
                    record.entities.append(
                        Entity(start, end, label, line_no, surface, DISCONTINUOUS)
                    )
                else:
                    record.entities.append(Entity(*fragments[0], label, line_no, surface))
        record.path = str(ann)
        yield record
