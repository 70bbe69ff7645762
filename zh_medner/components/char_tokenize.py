"""The encoder's tokenizer over a batch of windows, with its Chinese characters looked up directly.

A BERT tokenizer makes every Chinese character a word of its own, so a character's wordpiece
is its vocabulary entry (or [UNK]) whatever stands beside it. `tokenize` gives exactly what
spacy-transformers' `huggingface_tokenize` gives (tests/test_components_char_tokenize.py
checks them against each other), but sends only the runs of other characters (digits, Latin,
punctuation, spaces) through the Hugging Face tokenizer, each distinct run once, and places
the characters' ids with numpy, at a small part of the Rust tokenizer's cost (docs/results.md).
A tokenizer this does not cover (another normalizer or model, an added token with a Chinese
character) runs as before.

This file is shipped in the wheel: it imports nothing from `zh_medner`.
"""

import json
import weakref

import numpy

# BERT's `_is_chinese_char` blocks that have no decomposition (its compatibility ideographs
# do, under the normalizer's NFD: they go the slow way); the table ends where the last ends.
FAST_BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF))
TABLE_SIZE = 0xA000
# The cache of runs: at most this many, of at most this many characters (a long run rarely
# comes again); it starts again when full (a long-lived server).
MAX_RUNS, MAX_RUN_CHARS = 50_000, 32
PARTS = ("normalizer", "pre_tokenizer", "post_processor")
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenize(tokenizer, texts: list[str]) -> dict:
    """upstream's huggingface_tokenize (a fast tokenizer: offsets are needed): Chinese
    characters from the table where `covers` allows, wordpiece names looked up in one array."""
    fast = char_tokenizer(tokenizer)
    encoding = fast(texts) if fast is not None and texts else None
    if encoding is None:
        encoding = tokenizer(
            texts,
            add_special_tokens=True,
            return_attention_mask=True,
            return_offsets_mapping=True,
            return_tensors="np",
            return_token_type_ids=None,
            padding="longest",
        )
    names = _names(tokenizer)
    encoding["input_texts"] = [names[row].tolist() for row in encoding["input_ids"]]
    encoding["pad_token"] = tokenizer.pad_token
    return encoding


def _names(tokenizer) -> numpy.ndarray:
    """Every wordpiece's name by id, made once per tokenizer and again when tokens were added
    (their count, not len(tokenizer): that costs as much as the alignment, every batch); as
    long as the highest id, where a vocabulary has gaps."""
    added = len(tokenizer.added_tokens_decoder)
    cached = _NAMES.get(tokenizer)
    if cached is None or cached[0] != added:
        ids = list(range(max(tokenizer.get_vocab().values(), default=-1) + 1))
        names = numpy.array(tokenizer.convert_ids_to_tokens(ids), dtype=object)
        cached = _NAMES[tokenizer] = (added, names)
    return cached[1]


def char_tokenizer(tokenizer):
    """A `CharTokenizer` for `tokenizer`, made again when its added tokens, padding side,
    normalizer, pre-tokenizer or post-processor change; None where `covers` refuses it."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    parts = [getattr(backend, part) for part in PARTS]
    key = (
        len(tokenizer.added_tokens_decoder),
        tokenizer.padding_side,
        *(None if part is None else part.__getstate__() for part in parts),
    )
    cached = _CACHE.get(tokenizer)
    if cached is None or cached[0] != key:
        fast = CharTokenizer(tokenizer) if covers(tokenizer) else None
        cached = _CACHE[tokenizer] = (key, fast)
    return cached[1]


def covers(tokenizer) -> bool:
    """Whether the table gives exactly the tokenizer's batch: a fast BERT tokenizer (its
    normalizer splits Chinese characters, WordPiece, [CLS] text [SEP] all of type 0, padding
    on the right) whose added tokens can match only inside the runs between Chinese
    characters."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    normalizer, model = spec.get("normalizer") or {}, spec["model"]
    return (
        tokenizer.padding_side == "right"
        and normalizer.get("type") == "BertNormalizer"
        and normalizer.get("handle_chinese_chars") is True
        and (spec.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
        and model.get("type") == "WordPiece"
        and model.get("unk_token") == tokenizer.unk_token
        and None not in (tokenizer.unk_token_id, tokenizer.pad_token_id)
        and _cls_text_sep(spec.get("post_processor") or {}, tokenizer)
        and all(_inside_runs(added) for added in tokenizer.added_tokens_decoder.values())
    )


def _cls_text_sep(post: dict, tokenizer) -> bool:
    """The post-processor wraps a text in the tokenizer's [CLS] and [SEP], all of type 0."""
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    if post.get("type") == "BertProcessing":
        return post["cls"][1] == cls and post["sep"][1] == sep
    if post.get("type") != "TemplateProcessing":
        return False
    parts = [next(iter(part.values())) for part in post.get("single", [])]
    names = [part.get("id") for part in parts]
    special = post.get("special_tokens") or {}
    return (
        names == [tokenizer.cls_token, "A", tokenizer.sep_token]
        and all(part.get("type_id", 0) == 0 for part in parts)
        and (special.get(names[0]) or {}).get("ids") == [cls]
        and (special.get(names[2]) or {}).get("ids") == [sep]
    )


def _inside_runs(added) -> bool:
    """An added token that matches inside a run alone as in the whole text: no Chinese
    character, no word boundary needed, and (matched on the normalized text, where each
    Chinese character stands between spaces) no whitespace at its ends taken in."""
    spaced = added.lstrip or added.rstrip or added.content != added.content.strip()
    return not (
        added.single_word or _fast_chars(added.content).any() or (added.normalized and spaced)
    )


def _fast_chars(text: str) -> numpy.ndarray:
    points = numpy.frombuffer(text.encode("utf-32-le"), dtype="uint32")
    return numpy.any([(points >= lo) & (points <= hi) for lo, hi in FAST_BLOCKS], axis=0)


class CharTokenizer:
    """The tokenizer's padded batch (input_ids, token_type_ids, attention_mask,
    offset_mapping, as numpy arrays): Chinese characters from a table, the runs between
    them from the tokenizer itself, cached."""

    def __init__(self, tokenizer):
        vocab, unk = tokenizer.get_vocab(), tokenizer.unk_token_id
        self.table = numpy.full(TABLE_SIZE, -1, dtype="int64")
        for lo, hi in FAST_BLOCKS:
            self.table[lo : hi + 1] = [vocab.get(chr(c), unk) for c in range(lo, hi + 1)]
        self.tokenizer = tokenizer
        self.special = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
        self.runs: dict[str, tuple] = {}

    def __call__(self, texts: list[str]) -> dict | None:
        joined = "".join(texts)
        try:
            points = numpy.frombuffer(joined.encode("utf-32-le"), dtype="uint32")
        except UnicodeEncodeError:  # a lone surrogate: the tokenizer says what it makes of it
            return None
        lengths = numpy.fromiter(map(len, texts), dtype="int64", count=len(texts))
        starts = numpy.cumsum(lengths) - lengths
        ids = self.table[numpy.minimum(points, TABLE_SIZE - 1)]
        ids[points >= TABLE_SIZE] = -1
        first, last = _runs(ids < 0, starts)
        runs = [joined[a:b] for a, b in zip(first, last)]
        r_ids, r_start, r_end = self._run_pieces(runs, first)
        chars = numpy.flatnonzero(ids >= 0)
        start = numpy.concatenate((chars, r_start))
        order = numpy.argsort(start, kind="stable")
        start = start[order]
        piece = numpy.concatenate((ids[chars], r_ids))[order]
        end = numpy.concatenate((chars + 1, r_end))[order]
        row = numpy.repeat(numpy.arange(len(texts)), lengths)[start]
        return self._padded(row, piece, start - starts[row], end - starts[row], len(texts))

    def _run_pieces(self, runs: list[str], first: list[int]):
        """Each run's wordpieces (ids, starts, ends in the batch), the new runs tokenized in
        one call."""
        found = {run: self.runs.get(run) for run in runs}
        new = [run for run, pieces in found.items() if pieces is None]
        if new:
            if len(self.runs) + len(new) > MAX_RUNS:
                self.runs = {}
            encoding = self.tokenizer(
                new,
                add_special_tokens=False,
                return_offsets_mapping=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            for run, ids, offsets in zip(new, encoding["input_ids"], encoding["offset_mapping"]):
                pieces = numpy.array([ids, *zip(*offsets)] if ids else [[]] * 3, dtype="int64")
                found[run] = pieces
                if len(run) <= MAX_RUN_CHARS and len(self.runs) < MAX_RUNS:
                    self.runs[run] = pieces
        pieces = [found[run] for run in runs]
        counts = numpy.fromiter((p.shape[1] for p in pieces), dtype="int64", count=len(pieces))
        flat = numpy.concatenate(pieces, axis=1) if pieces else numpy.zeros((3, 0), "int64")
        base = numpy.repeat(numpy.asarray(first, dtype="int64"), counts)
        return flat[0], flat[1] + base, flat[2] + base

    def _padded(self, row, piece, start, end, n_rows: int) -> dict:
        """The batch as the tokenizer pads it: [CLS] pieces [SEP], then [PAD] to the longest."""
        cls, sep, pad = self.special
        counts = numpy.bincount(row, minlength=n_rows)
        width = int(counts.max(initial=0)) + 2
        col = numpy.arange(len(row)) - numpy.repeat(numpy.cumsum(counts) - counts, counts) + 1
        input_ids = numpy.full((n_rows, width), pad, dtype="int64")
        offsets = numpy.zeros((n_rows, width, 2), dtype="int64")
        input_ids[row, col] = piece
        offsets[row, col, 0], offsets[row, col, 1] = start, end
        input_ids[:, 0] = cls
        input_ids[numpy.arange(n_rows), counts + 1] = sep
        mask = (numpy.arange(width)[None, :] < (counts + 2)[:, None]).astype("int64")
        encoding = {"input_ids": input_ids}
        if "token_type_ids" in self.tokenizer.model_input_names:
            encoding["token_type_ids"] = numpy.zeros_like(input_ids)
        encoding.update(attention_mask=mask, offset_mapping=offsets)
        return encoding


def _runs(slow: numpy.ndarray, starts: numpy.ndarray) -> tuple[list[int], list[int]]:
    """The first and one-past-last index of each run of `slow` characters, cut where a
    window starts."""
    n = len(slow)
    window_start = numpy.zeros(n + 1, dtype=bool)
    window_start[starts] = True
    window_start[n] = True
    before, after = numpy.zeros(n, dtype=bool), numpy.zeros(n, dtype=bool)
    before[1:], after[:-1] = slow[:-1], slow[1:]  # the neighbours, where in the same window
    before &= ~window_start[:n]
    after &= ~window_start[1:]
    return (
        numpy.flatnonzero(slow & ~before).tolist(),
        (numpy.flatnonzero(slow & ~after) + 1).tolist(),
    )
