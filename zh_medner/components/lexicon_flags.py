"""`zh_medner.LexiconFlags.v1`: per token, B/M/E flags of the lexicon terms that match there.

SoftLexicon-style features beside the encoder's vectors in the span head: for each lexicon type,
whether a term of that type begins, continues or ends at the token. Terms match token by token
(the tokenizer gives one token per character, and a run of whitespace is one token that no term
matches), so a flag always sits on the token it describes. Matching the joined token texts
instead put every flag after a run of whitespace on the wrong token, and a flag pushed past
the doc's end crashed the span head (an IndexError on a note with a blank line).

A batch is matched at once, one vectorised pass per term length over the ORTH ids of all its
docs: the polynomial hash of each window (from prefix sums, `PrefixHashes`) tested against a
bitmap of the terms' top hash bits (one gather; ~3% pass), the rest looked up among the hashes
of the terms of that length, and each hit checked id by id (no false match even on a hash
collision): faster than the per-character dictionary walk it replaces, with the same flags
(docs/results.md has the timings). pyahocorasick was no faster and one more dependency for
the wheel; spaCy's PhraseMatcher matched as fast but took 4 s to build from the lexicon's 55,000
terms at load.

This file is shipped in the wheel (`spacy package --code`): it imports nothing from `zh_medner`.
"""

import contextlib
from typing import NamedTuple

import numpy
from numpy.lib.stride_tricks import sliding_window_view
from spacy.strings import get_string_id
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

SEPARATOR = 0  # between docs in a batch: the id of "", which no term's character has
BASE = numpy.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the rolling hash (mod 2**64)
INVERSE = numpy.uint64(pow(int(BASE), -1, 2**64))  # BASE * INVERSE = 1 (mod 2**64)
FILTER_BITS = 21  # a window whose hash's top bits no term has is no match (a 2 MB bitmap)


class Terms(NamedTuple):
    """The terms of one length, in the order of their sorted hashes."""

    hashes: numpy.ndarray  # [m] uint64, sorted
    ids: numpy.ndarray  # [m, n] uint64
    bits: numpy.ndarray  # [m] int64: bit k set for the k-th type


class TermTable:
    """The lexicon's terms of 2 to `max_length` characters, by length."""

    def __init__(self, terms: dict[str, list[str]], max_length: int):
        self.types = sorted(terms)
        rows: dict[str, int] = {}  # term -> its types' bits
        for k, label in enumerate(self.types):
            for term in terms[label]:
                if 2 <= len(term) <= max_length:
                    rows[term] = rows.get(term, 0) | (1 << k)
        self.by_length: dict[int, Terms] = {}
        for n in sorted({len(term) for term in rows}):
            chosen = [term for term in rows if len(term) == n]
            ids = numpy.array([[get_string_id(c) for c in t] for t in chosen], dtype=numpy.uint64)
            hashes = window_hashes(ids)
            order = numpy.argsort(hashes, kind="stable")
            bits = numpy.array([rows[t] for t in chosen], dtype=numpy.int64)
            self.by_length[n] = Terms(hashes[order], ids[order], bits[order])
        # a first test of every window, much cheaper than a binary search among the hashes
        self.seen = numpy.zeros(1 << FILTER_BITS, dtype=bool)
        for terms in self.by_length.values():
            self.seen[_top_bits(terms.hashes)] = True

    def matches(self, ids: numpy.ndarray):
        """(starts, length, bits) for each term length: every term occurrence in `ids`."""
        hashes = PrefixHashes(ids)
        for n, terms in self.by_length.items():
            if len(ids) < n:
                continue
            keys = hashes.windows(n)
            maybe = numpy.flatnonzero(self.seen[_top_bits(keys)])
            found = numpy.searchsorted(terms.hashes, keys[maybe])
            found[found == len(terms.hashes)] = 0
            same = terms.hashes[found] == keys[maybe]
            hit, found = maybe[same], found[same]
            windows = sliding_window_view(ids, n)
            kept = (windows[hit] == terms.ids[found]).all(axis=1)  # a collision is no match
            hit, found = hit[kept], found[kept]
            if len(hit):
                yield hit, n, terms.bits[found]


def _top_bits(hashes: numpy.ndarray) -> numpy.ndarray:
    """The top FILTER_BITS bits of each hash: the product's bits that mix all of its ids'."""
    return (hashes >> numpy.uint64(64 - FILTER_BITS)).astype(numpy.intp)


def window_hashes(rows: numpy.ndarray) -> numpy.ndarray:
    """A polynomial hash of each row of ORTH ids, wrapping mod 2**64: sum of id[t] * BASE**t."""
    with numpy.errstate(over="ignore"):
        powers = BASE ** numpy.arange(rows.shape[1], dtype=numpy.uint64)
        return (rows * powers).sum(axis=1, dtype=numpy.uint64)


class PrefixHashes:
    """`window_hashes` of every window of a sequence, of any length, in two operations a
    window: BASE is odd, so it has an inverse mod 2**64, and the window at i hashes to
    (prefix[i + n] - prefix[i]) * BASE**-i. The cost no longer grows with the term length."""

    def __init__(self, ids: numpy.ndarray):
        with numpy.errstate(over="ignore"):
            steps = numpy.arange(len(ids), dtype=numpy.uint64)
            self.prefix = numpy.zeros(len(ids) + 1, dtype=numpy.uint64)
            numpy.cumsum(ids * BASE**steps, dtype=numpy.uint64, out=self.prefix[1:])
            self.unshift = INVERSE**steps

    def windows(self, n: int) -> numpy.ndarray:
        with numpy.errstate(over="ignore"):
            count = len(self.prefix) - n
            return (self.prefix[n:] - self.prefix[:count]) * self.unshift[:count]


def batch_flags(table: TermTable, docs: list[Doc]) -> list[numpy.ndarray]:
    """Each doc's [tokens, 3 x types] flags, from one pass over the batch's ORTH ids."""
    arrays = [doc.to_array("ORTH").astype(numpy.uint64) for doc in docs]
    starts = numpy.cumsum([0] + [len(a) + 1 for a in arrays])
    ids = numpy.full(starts[-1], SEPARATOR, dtype=numpy.uint64)
    for start, a in zip(starts, arrays):
        ids[start : start + len(a)] = a
    flags = numpy.zeros((len(ids), 3 * len(table.types)), dtype="float32")
    for hit, n, bits in table.matches(ids):
        for k in range(len(table.types)):
            begin = hit[(bits >> k) & 1 == 1]
            flags[begin, 3 * k] = 1.0
            flags[(begin[:, None] + numpy.arange(1, n - 1)).ravel(), 3 * k + 1] = 1.0
            flags[begin + n - 1, 3 * k + 2] = 1.0
    return [flags[start : start + len(a)] for start, a in zip(starts, arrays)]


@registry.architectures("zh_medner.LexiconFlags.v1")
def build_lexicon_flags(max_length: int = 16) -> Model[list[Doc], list[Floats2d]]:
    """B/M/E flags per token for each lexicon type (terms of 2 to `max_length` characters).
    No weights; the terms are set at initialize and saved with the model."""
    return Model(
        "lexicon_flags",
        FlagsForward(),
        attrs={"terms": {}, "max_length": max_length},
        dims={"nO": None},
    )


class FlagsForward:
    """The layer's forward, with the term table of the terms dict it was built from. A class
    at module level, not a closure: spawned workers of nlp.pipe(n_process=N) (macOS, Windows,
    or a spawned parent) get the pipeline pickled; the table is built again there."""

    def __init__(self):
        self.source: dict | None = None
        self.table: TermTable | None = None
        self.prepared: dict[int, numpy.ndarray] = {}  # id(doc) -> its flags (`batch_lexicon`)

    def __call__(self, model: Model, docs: list[Doc], is_train: bool):
        if all(id(doc) in self.prepared for doc in docs):
            flags = [self.prepared[id(doc)] for doc in docs]
        else:
            flags = batch_flags(self.table_of(model), docs)
        return [model.ops.asarray2f(f) for f in flags], _no_gradient

    def table_of(self, model: Model) -> TermTable:
        terms = model.attrs["terms"]
        if self.source is not terms:
            self.source, self.table = terms, TermTable(terms, model.attrs["max_length"])
        return self.table

    def __getstate__(self) -> dict:
        return {"source": None, "table": None, "prepared": {}}


@contextlib.contextmanager
def batch_lexicon(model: Model, docs: list[Doc]):
    """Within it, the lexicon layers of `model` give `docs` the flags matched in one pass over
    all of them: the span head predicts a batch 16 docs at a time, and each pass costs some
    numpy calls per term length. A layer called on other docs matches them itself (so a
    nested or concurrent use of the same layer, whose exit empties it, costs time, not flags:
    the docs of an open context stay alive, and their ids with them)."""
    docs = list(docs)
    nodes = [node for node in model.walk() if node.name == "lexicon_flags"]
    try:
        for node in nodes:  # thinc keeps a layer's forward, a FlagsForward here, as `_func`
            flags = batch_flags(node._func.table_of(node), docs)
            node._func.prepared = {id(doc): f for doc, f in zip(docs, flags)}
        yield
    finally:
        for node in nodes:
            node._func.prepared = {}


def _no_gradient(d_out) -> list:
    return []


def set_lexicon(model: Model, lexicon: dict | None) -> None:
    """Give each lexicon layer of `model` its terms ({type: [term, ...]})."""
    for node in model.walk():
        if node.name == "lexicon_flags":
            if not lexicon:
                raise ValueError(
                    "the span head's model has lexicon features but no lexicon was given: set "
                    "[initialize.components.span_head.lexicon] (e.g. assets/lexicon_cmekg.json)"
                )
            node.attrs["terms"] = {label: list(terms) for label, terms in sorted(lexicon.items())}
            node.set_dim("nO", 3 * len(lexicon), force=True)
