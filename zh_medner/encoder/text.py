"""Unlabeled text for pretraining: one document per line, plain or .xz, files or folders.

Each source has a sampling weight (`PATH:WEIGHT`, medical text weighted up). A seeded
share of the lines of the held-out sources never reaches training: it is chosen by a
hash of the line, so the split is the same on every run and every machine, and
needs no list kept anywhere.
"""

import hashlib
import lzma
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import OptionError

TEXT_SUFFIXES = (".txt", ".xz")


class PretrainTextError(OptionError):
    """A pretraining argument, text, folder or checkpoint refused: the message names it (the
    option, or file and line) and what to do."""


@dataclass
class TextSource:
    path: Path
    weight: float = 1.0

    @classmethod
    def parse(cls, spec: str) -> "TextSource":
        """`PATH` or `PATH:WEIGHT`."""
        head, sep, tail = spec.rpartition(":")
        if sep and head:
            try:
                return cls(Path(head), float(tail))
            except ValueError:
                pass
        return cls(Path(spec), 1.0)

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.exists():
            raise PretrainTextError(f"pretraining text not found: {self.path}")
        files = sorted(
            p for p in self.path.rglob("*") if p.is_file() and p.name.endswith(TEXT_SUFFIXES)
        )
        if not files:
            raise PretrainTextError(f"{self.path}: no .txt or .txt.xz files in this folder")
        return files


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for each non-blank line; invalid UTF-8 names its line."""
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError as e:
                raise PretrainTextError(
                    f"{path}:{number}: not UTF-8 ({e.reason} at byte {e.start}); convert it first, "
                    f"e.g. `iconv -f GBK -t UTF-8`"
                ) from None
            if line:
                yield number, line


def is_heldout(line: str, seed: int, percent: float) -> bool:
    return zlib.crc32(f"{seed}\x00{line}".encode()) % 10000 < percent * 100


def read_source(
    source: TextSource, heldout: bool, seed: int, percent: float
) -> tuple[list[str], list[str]]:
    """(training lines, held-out lines) of one source."""
    train: list[str] = []
    held: list[str] = []
    for path in source.files():
        for _, line in read_lines(path):
            (held if heldout and is_heldout(line, seed, percent) else train).append(line)
    if not train:
        raise PretrainTextError(f"{source.path}: no text to train on (every line is blank)")
    return train, held


def fingerprint(sources: Sequence[TextSource], *parts: str) -> str:
    """Changes when any input file or any of `parts` (vocabulary, split settings) changes."""
    h = hashlib.sha1()
    for source in sources:
        for path in source.files():
            stat = path.stat()
            h.update(f"{path.resolve()}\x00{stat.st_size}\x00{stat.st_mtime_ns}\x00".encode())
    for part in parts:
        h.update(part.encode("utf8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def tokenize_lines(tokenizer, lines: list[str], sep_id: int, batch: int = 20000) -> np.ndarray:
    """One flat uint16 stream: each line's token ids followed by [SEP] (sequence packing)."""
    chunks = []
    for i in range(0, len(lines), batch):
        encoded = tokenizer(
            lines[i : i + batch],
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        for ids in encoded:
            if ids:
                chunks.append(np.asarray(ids + [sep_id], dtype=np.uint16))
    if not chunks:
        return np.zeros(0, dtype=np.uint16)
    return np.concatenate(chunks)
