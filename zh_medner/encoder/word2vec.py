"""Character vectors from gensim word2vec, as the masked-LM's initial input embeddings.

CBOW over the same token stream the encoder trains on takes minutes on a CPU and gives
the embeddings a head start. The vectors are centred and rescaled to the encoder
initialiser's standard deviation: raw word2vec norms are far larger and slow the
transformer layers down at the start of training.
"""

from collections.abc import Iterator, Sequence

import numpy as np

from .vocab import SEP

MAX_SENTENCE = 10000  # gensim drops tokens past 10,000 in one sentence


class _TokenSentences:
    """Restartable iterable of token-string lists, cut at [SEP], for gensim's passes."""

    def __init__(self, streams: Sequence[np.ndarray], max_tokens: int):
        self.streams, self.max_tokens = streams, max_tokens
        self.names = [str(i) for i in range(65536)]

    def __iter__(self) -> Iterator[list[str]]:
        left = self.max_tokens
        for stream in self.streams:
            stream = stream[: max(0, left)]
            left -= len(stream)
            ends = np.flatnonzero(stream == SEP)
            start = 0
            for end in ends:
                for a in range(start, end, MAX_SENTENCE):
                    b = min(end, a + MAX_SENTENCE)
                    if b - a > 1:
                        yield [self.names[i] for i in stream[a:b]]
                start = end + 1


def word2vec_embeddings(
    streams: Sequence[np.ndarray],
    vocab_size: int,
    dim: int,
    std: float,
    seed: int,
    workers: int,
    max_tokens: int = 40_000_000,
    epochs: int = 2,
) -> np.ndarray:
    """[vocab_size, dim] float32: word2vec vectors where a token was seen, N(0, std) elsewhere."""
    from gensim.models import Word2Vec

    per_stream = max_tokens // max(1, len(streams))
    sentences = _TokenSentences([s[:per_stream] for s in streams], max_tokens)
    model = Word2Vec(
        sentences=sentences,
        vector_size=dim,
        window=5,
        min_count=1,
        sg=0,
        epochs=epochs,
        workers=workers,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, std, size=(vocab_size, dim)).astype(np.float32)
    known = [int(k) for k in model.wv.index_to_key if int(k) < vocab_size]
    vectors = np.stack([model.wv[str(k)] for k in known]).astype(np.float32)
    vectors -= vectors.mean(axis=0, keepdims=True)
    vectors *= std / vectors.std()
    out[known] = vectors
    return out
