"""Annotation formats in: one reader per format, each yielding `Record`s.

Every reader yields text plus character-offset entities, each with the file and
line it came from. Every file is read through `zh_medner.io` (strict decoding, BOM,
line breaks). Structural problems (bad encoding or JSON, a field of the wrong type, a
broken BRAT or CoNLL line) raise `ConversionError` naming file, line and field, before
anything is written.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

from .brat import read_brat
from .cmeee import read_cmeee
from .conll import read_conll
from .doccano import read_doccano
from .jsonl import read_jsonl
from .label_studio import read_label_studio
from .records import ConversionError, Entity, Record

# reader(path, encoding) -> records
READERS: dict[str, Callable[[Path, str], Iterator[Record]]] = {
    "label-studio": read_label_studio,
    "brat": read_brat,
    "jsonl": read_jsonl,
    "cmeee": read_cmeee,
    "conll": read_conll,
    "doccano": read_doccano,
}

__all__ = ["READERS", "ConversionError", "Entity", "Record"]
