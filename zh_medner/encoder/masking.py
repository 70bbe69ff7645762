"""Dynamic masking for the masked-LM: a new mask for every batch, whole words or single characters.

Whole-word masking hides every character of a word at once, so the model must recall
a term (高血压, 二甲双胍) rather than complete it from its other half. Words come from
jieba with a medical lexicon added (CMeKG names and the shared dictionaries).
"""

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .vocab import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, UNK

IGNORE = -100  # label of the positions the loss skips
LEXICON_FREQ = 2000  # jieba frequency given to lexicon words, so they win over splits


# Term lists under ../shared/data/dicts used for whole-word masking (medical words only)
LEXICON_FILES = (
    "cmekg/check_names.txt",
    "cmekg/department_names.txt",
    "cmekg/disease_subjects.txt",
    "cmekg/drug_brand_names.txt",
    "cmekg/drug_generic_names.txt",
    "cmekg/drug_subjects.txt",
    "cmekg/herb_subjects.txt",
    "cmekg/symptom_names.txt",
    "qasystem_medicalkg/check.txt",
    "qasystem_medicalkg/disease.txt",
    "qasystem_medicalkg/drug.txt",
    "qasystem_medicalkg/symptom.txt",
    "thuocl/THUOCL_medical.txt",
)


def lexicon_files(folder: Path) -> list[Path]:
    """The medical term lists found under `folder` (a copy of ../shared/data/dicts)."""
    return [Path(folder) / name for name in LEXICON_FILES if (Path(folder) / name).exists()]


def read_lexicon(paths: Sequence[Path], min_len: int = 2, max_len: int = 12) -> list[str]:
    """Words from one-term-a-line files (a tab-separated count after the term is ignored)."""
    words = set()
    for path in paths:
        for line in Path(path).read_text(encoding="utf8").splitlines():
            term = line.split("\t")[0].strip()
            if min_len <= len(term) <= max_len and not term.startswith("#"):
                words.add(term.lower())
    return sorted(words)


class WordSegmenter:
    """Word spans of a string: jieba's dictionary plus the medical lexicon."""

    def __init__(self, lexicon: Sequence[str] = ()):
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        if lexicon:
            self.tokenizer.load_userdict(
                io.StringIO("".join(f"{w} {LEXICON_FREQ}\n" for w in lexicon))
            )

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [(start, end) for _, start, end in self.tokenizer.tokenize(text, HMM=False)]


def id_to_char(vocab: Sequence[str]) -> list[str]:
    """One character per token id, so string offsets are token positions ('##a' -> 'a')."""
    out = []
    for token in vocab:
        if token in SPECIAL_TOKENS:
            out.append(" ")  # jieba splits on spaces: no word crosses a special token
        elif token.startswith("##") and len(token) == 3:
            out.append(token[2])
        else:
            out.append(token[0] if len(token) == 1 else " ")
    return out


def maskable(ids: np.ndarray) -> np.ndarray:
    return (ids != PAD) & (ids != CLS) & (ids != SEP) & (ids != UNK) & (ids != MASK)


def choose_masked(
    ids: np.ndarray,
    rng: np.random.Generator,
    prob: float,
    segmenter: WordSegmenter | None = None,
    chars: list[str] | None = None,
) -> np.ndarray:
    """Boolean [batch, length]: the positions to predict (about `prob` of the maskable ones)."""
    candidates = maskable(ids)
    if segmenter is None:
        return candidates & (rng.random(ids.shape) < prob)
    chosen = np.zeros_like(candidates)
    for row in range(ids.shape[0]):
        text = "".join(chars[i] for i in ids[row])
        units = [(a, b) for a, b in segmenter.spans(text) if candidates[row, a:b].all()]
        budget = int(round(prob * candidates[row].sum()))
        taken = 0
        for k in rng.permutation(len(units)):
            a, b = units[k]
            if taken + (b - a) > budget:
                continue
            chosen[row, a:b] = True
            taken += b - a
            if taken >= budget:
                break
    return chosen


def apply_mask(
    ids: np.ndarray,
    chosen: np.ndarray,
    rng: np.random.Generator,
    vocab_size: int,
    first_normal: int,
) -> tuple[np.ndarray, np.ndarray]:
    """BERT's 80/10/10: [MASK], a random token, or unchanged. Returns (inputs, labels)."""
    labels = np.where(chosen, ids, IGNORE).astype(np.int64)
    inputs = ids.astype(np.int64).copy()
    draw = rng.random(ids.shape)
    inputs[chosen & (draw < 0.8)] = MASK
    swap = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[swap] = rng.integers(first_normal, vocab_size, size=int(swap.sum()))
    return inputs, labels
