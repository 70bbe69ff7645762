"""The token streams of a pretraining run: read, split, counted and tokenized once, cached.

Each text source becomes one stream of token ids (documents joined by [SEP], so windows cut
from it have no padding); the held-out lines of the held-out sources become one more, which
training never samples from. `Streams.windows` samples training windows, `eval_batch` gives the
fixed, masked held-out batch.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..io import write_atomic
from .masking import IGNORE, choose_masked
from .recipe import Recipe
from .text import TextSource, fingerprint, read_source, tokenize_lines
from .vocab import CLS, MASK, SEP, count_chars, vocab_from_counts

EVAL_LENGTH = 128


class Streams:
    """Token streams per source, the held-out stream, and windows sampled from them."""

    def __init__(self, train: list[np.ndarray], weights: Sequence[float], heldout: np.ndarray):
        self.train, self.heldout = train, heldout
        mass = np.array([w * len(s) for w, s in zip(weights, train)], dtype=np.float64)
        self.p = mass / mass.sum()

    def windows(self, rng: np.random.Generator, count: int, length: int) -> np.ndarray:
        """[count, length] windows: [CLS] + a random stretch of a training stream + [SEP]."""
        out = np.empty((count, length), dtype=np.int64)
        out[:, 0], out[:, -1] = CLS, SEP
        body = length - 2
        for row, k in enumerate(rng.choice(len(self.train), size=count, p=self.p)):
            stream = self.train[k]
            if len(stream) <= body:
                piece = np.resize(stream, body)
            else:
                start = int(rng.integers(0, len(stream) - body))
                piece = stream[start : start + body]
            out[row, 1:-1] = piece
        return out

    def eval_batch(self, seed: int, count: int, prob: float) -> tuple | None:
        """Fixed held-out windows with 15% single characters replaced by [MASK]."""
        body = EVAL_LENGTH - 2
        n = min(count, len(self.heldout) // body)
        if n == 0:
            return None
        ids = np.empty((n, EVAL_LENGTH), dtype=np.int64)
        ids[:, 0], ids[:, -1] = CLS, SEP
        ids[:, 1:-1] = self.heldout[: n * body].reshape(n, body)
        rng = np.random.default_rng([seed, 999_999])
        chosen = choose_masked(ids, rng, prob)
        labels = np.where(chosen, ids, IGNORE)
        inputs = np.where(chosen, MASK, ids)
        return inputs, labels


def _cached(candidates: list[str], n_sources: int, vocab: list[str] | None, cache_dir: Path):
    """(vocab, train streams, held-out stream, file) of the first cache that fits, or None."""
    for key in candidates:
        cached = cache_dir / f"tokens-{key}.npz"
        if not cached.exists():
            continue
        data = np.load(cached, allow_pickle=False)
        if vocab and [str(t) for t in data["vocab"]] != vocab:
            continue
        train = [data[f"train_{i}"] for i in range(n_sources)]
        return [str(t) for t in data["vocab"]], train, data["heldout"], cached
    return None


def _read(sources: Sequence[TextSource], heldout_sources, recipe: Recipe, log) -> tuple:
    """(training lines per source, held-out lines)."""
    lines, held = [], []
    for i, source in enumerate(sources):
        t, h = read_source(source, i in heldout_sources, recipe.seed, recipe.heldout_percent)
        lines.append(t)
        held.extend(h)
        log(
            f"{source.path}: {len(t):,} training lines, {len(h):,} held out (weight "
            f"{source.weight:g})"
        )
    return lines, held


def _tokenize(lines, held, vocab: list[str], key: str, cache_dir: Path) -> tuple:
    from transformers import BertTokenizerFast

    tmp_vocab = cache_dir / f"vocab-{key}.txt"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp_vocab.write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(tmp_vocab), do_lower_case=True, tokenize_chinese_chars=True
    )
    train = [tokenize_lines(tokenizer, part, SEP) for part in lines]
    heldout = tokenize_lines(tokenizer, held, SEP)
    tmp_vocab.unlink()
    return train, heldout


def load_streams(
    sources: Sequence[TextSource],
    heldout_sources: Sequence[int],
    recipe: Recipe,
    vocab: list[str] | None,
    cache_dir: Path,
    log: Callable[[str], None],
):
    """(vocab, Streams): read, split, count, tokenize; cached by a fingerprint of all inputs."""
    key_parts = (
        str(sorted(heldout_sources)),
        str(recipe.heldout_percent),
        str(recipe.seed),
        str(recipe.min_char_count),
    )
    # A resumed run passes the vocabulary its first run counted: that run's cache serves it.
    candidates = [fingerprint(sources, "counted", *key_parts)]
    if vocab:
        candidates.insert(0, fingerprint(sources, "\n".join(vocab), *key_parts))
    weights = [s.weight for s in sources]
    found = _cached(candidates, len(sources), vocab, cache_dir)
    if found:
        vocab, train, heldout, cached = found
        log(f"token cache {cached}: {sum(len(t) for t in train):,} training tokens")
        return vocab, Streams(train, weights, heldout)
    lines, held = _read(sources, heldout_sources, recipe, log)
    if vocab is None:
        counts = count_chars(line for part in lines for line in part)
        vocab = vocab_from_counts(counts, recipe.min_char_count)
        log(f"vocabulary: {len(vocab):,} tokens (characters seen >= {recipe.min_char_count} times)")
    train, heldout = _tokenize(lines, held, vocab, candidates[-1], cache_dir)
    cached = cache_dir / f"tokens-{candidates[0]}.npz"
    arrays = {f"train_{i}": t for i, t in enumerate(train)}
    write_atomic(
        cached,
        lambda tmp: np.savez(open(tmp, "wb"), vocab=np.array(vocab), heldout=heldout, **arrays),
    )
    log(
        f"tokenized: {sum(len(t) for t in train):,} training tokens, {len(heldout):,} held "
        f"out -> {cached}"
    )
    return vocab, Streams(train, weights, heldout)
