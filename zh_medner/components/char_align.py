"""The transformer's forward with the wordpiece alignment computed in numpy.

spacy-transformers' TransformerModel.v3 forward aligns wordpieces to spaCy tokens token by token
in Python (`get_alignment_via_offset_mapping`) and names every wordpiece with
`convert_ids_to_tokens`, row by row. With one spaCy token per character, that cost as much as
a tenth of the fp32 encoder forward on CMeEE dev (docs/results.md). `forward` here is upstream's
forward with both done on whole arrays; `align_by_offsets` returns exactly upstream's alignment
(tests/test_components_char_align.py checks them against each other). Its batch,
`CharTransformerBatch`, splits per doc without upstream's dict over every token of the batch
(`get_token_positions`: a Token object each, 7% of an int8 pipeline's time on CMeEE dev).
The one change to what upstream feeds the encoder: `EncoderText` gives it a character for the
whitespace its tokenizer would drop.

This file is shipped in the wheel: it imports nothing from `zh_medner` but its sibling
char_tokenize.py (the encoder's tokenizer, its Chinese characters looked up directly).
"""

import re

import numpy
from spacy.attrs import IDX, LENGTH, SPACY
from spacy_transformers.data_classes import FullTransformerBatch, TransformerData, WordpieceBatch
from spacy_transformers.layers.transformer_model import forward as upstream_forward
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.api import torch2xp
from thinc.types import Ragged
from transformers.file_utils import ModelOutput

try:
    from .char_tokenize import tokenize
except ImportError:  # `spacy package` imports each code file alone, outside its package
    from pathlib import Path

    from spacy.util import import_file

    tokenize = import_file("char_tokenize", Path(__file__).with_name("char_tokenize.py")).tokenize


def forward(model, docs, is_train: bool):
    """TransformerModel.v3's forward (without its GPU logging), numpy alignment."""
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False):  # no offsets: upstream aligns by strings
        return upstream_forward(model, docs, is_train)
    nested_spans = model.attrs["get_spans"](docs)
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    read = getattr(model, "encoder_text", None) or EncoderText()
    encoding = tokenize(tokenizer, [read(span.text) for span in flat_spans])
    wordpieces = WordpieceBatch.from_batch_encoding(encoding)
    positions = doc_positions(flat_spans)
    # the space's stand-in is context for the encoder, no part of the character before it
    spaces = not read.space
    align = align_by_offsets(flat_spans, encoding["offset_mapping"], positions, spaces)
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    model_output, bp_tensors = model.layers[0](wordpieces, is_train)
    output = CharTransformerBatch(
        spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align
    )
    output.positions = positions

    def backprop(d_output: FullTransformerBatch):
        bp_tensors(d_output.model_output)
        return docs

    return output, backprop


LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"  # str.splitlines' breaks
SPACES = " \t\xa0\u3000"
_CJK = "\u3001-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"  # Chinese characters, punctuation
SPACE_BESIDE_CJK = re.compile(f"(?<=[{_CJK}])[{SPACES}]+|[{SPACES}]+(?=[{_CJK}])")


class EncoderText:
    """What the encoder's tokenizer reads for a window. A BERT tokenizer drops whitespace, so
    发热 ending one line and 咳嗽 starting the next, or 无咳嗽 发热, would read as 发热咳嗽 and
    无咳嗽发热. Each line-break character becomes `line_break`, and each space beside a Chinese
    character `space` (one character for one: every offset stays; "" leaves them out, as
    upstream). Spaces between Latin letters or digits (HBV DNA, 12.5 mg) stay spaces."""

    def __init__(self, line_break: str = "", space: str = ""):
        for name, value in (("line_break", line_break), ("space", space)):
            if len(value) > 1:
                raise ValueError(
                    f'{name} {value!r}: give one character (e.g. "。" or "，"), or "" to leave '
                    "that whitespace out of the encoder's text"
                )
        self.table = str.maketrans({c: line_break for c in LINE_BREAKS}) if line_break else {}
        self.space = space

    def __call__(self, text: str) -> str:
        text = text.translate(self.table)
        if self.space:
            text = SPACE_BESIDE_CJK.sub(lambda m: self.space * len(m.group()), text)
        return text


def doc_positions(spans) -> dict:
    """doc -> (its first character, its first token) in the whole batch: the spans' docs in
    order of first appearance, as upstream's `get_token_positions` numbers their tokens. Each
    doc takes one character more than its text (see `_owners`)."""
    where: dict = {}
    n_chars = n_positions = 0
    for span in spans:
        if span.doc not in where:
            where[span.doc] = (n_chars, n_positions)
            n_chars, n_positions = n_chars + _n_chars(span.doc) + 1, n_positions + len(span.doc)
    return where


def align_by_offsets(
    spans, offset_mapping, where: dict | None = None, spaces: bool = True
) -> Ragged:
    """For each token of the spans' docs (docs in order of first appearance, tokens in doc
    order), the sorted indices of the wordpieces whose characters fall on it, in the flattened
    wordpiece array: upstream's `get_alignment_via_offset_mapping`, on whole arrays. `where`:
    `doc_positions(spans)`, when the caller has it; `spaces`: a token's trailing space is its
    own, as upstream counts it (False: nobody's)."""
    if len(spans) != len(offset_mapping):
        raise ValueError("Cannot align batches of different sizes.")
    if not spans:
        return Ragged(numpy.zeros((0,), dtype="i"), numpy.zeros((0,), dtype="i"))
    where = doc_positions(spans) if where is None else where
    owners = []  # every character's token, as a position in the whole batch
    for doc, (_, first_token) in where.items():
        owner = _owners(doc, spaces)
        owners.append(numpy.where(owner >= 0, owner + first_token, -1))
    n_positions = sum(len(doc) for doc in where)
    owner = numpy.concatenate(owners)
    offsets = numpy.asarray(offset_mapping, dtype="int64")
    width = offsets.shape[1]
    row_base, row_chars, row_last = numpy.array([_row(s, *where[s.doc]) for s in spans]).T
    lengths = numpy.maximum(offsets[:, :, 1] - offsets[:, :, 0], 0).ravel()
    piece = numpy.repeat(numpy.arange(len(lengths)), lengths)
    rel = numpy.repeat(offsets[:, :, 0].ravel(), lengths) + _ramp(lengths)
    row = piece // width
    inside = (rel >= 0) & (rel <= row_chars[row])  # a wordpiece's characters in its span
    row, rel = row[inside], rel[inside]
    # the character just after the span's text is its last token's, as upstream counts it
    token = numpy.where(rel == row_chars[row], row_last[row], owner[row_base[row] + rel])
    piece = piece[inside][token >= 0]
    n_pieces = len(spans) * width
    keys = numpy.unique(token[token >= 0] * n_pieces + piece)
    pos, flat = numpy.divmod(keys, n_pieces)
    counts = numpy.bincount(pos, minlength=n_positions)
    return Ragged(flat.astype("i"), counts.astype("i"))


def _row(span, first_char: int, first_token: int) -> tuple[int, int, int]:
    """A span's first character in the batch, its length in characters, its last token."""
    last = first_token + span.end - 1 if len(span) else -1
    return first_char + span.start_char, span.end_char - span.start_char, last


def _n_chars(doc) -> int:
    """len(doc.text), without making the text."""
    if len(doc) == 0:
        return 0
    last = doc[-1]
    return last.idx + len(last) + len(last.whitespace_)


def _owners(doc, spaces: bool = True) -> numpy.ndarray:
    """Each character's token, or -1; one more entry than characters. A character belongs to
    the last token that starts at or before it and ends at most one character before it: the
    character just after a token (a space) counts as that token's, as upstream counts it (not
    with `spaces` False)."""
    if len(doc) == 0:
        return numpy.full(1, -1)
    rows = doc.to_array([IDX, LENGTH, SPACY]).reshape(-1, 3).astype("int64")
    chars = numpy.arange(rows[-1].sum() + 1)  # len(doc.text) + 1, without making the text
    owner = numpy.searchsorted(rows[:, 0], chars, side="right") - 1
    ends = rows[numpy.maximum(owner, 0), :2].sum(1)
    return numpy.where((owner >= 0) & ((chars <= ends) if spaces else (chars < ends)), owner, -1)


def _ramp(lengths: numpy.ndarray) -> numpy.ndarray:
    """0..n-1 for each n in lengths, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return numpy.zeros(0, dtype="int64")
    starts = numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
    return numpy.arange(total) - starts


class CharTransformerBatch(FullTransformerBatch):
    """A FullTransformerBatch whose `split_by_doc` finds each doc's tokens by arithmetic: a
    doc's tokens are numbered after those of the docs before it (in order of first appearance,
    as upstream's `get_token_positions` numbers them). Otherwise upstream's method."""

    positions: dict | None = None  # `doc_positions` of the spans, set by `forward`

    def split_by_doc(self) -> list[TransformerData]:
        where = self.positions
        if where is None:
            where = doc_positions([span for doc_spans in self.spans for span in doc_spans])
        first = {doc: token for doc, (_, token) in where.items()}
        arrays = _xp_outputs(self.model_output)
        outputs, start, prev_tokens = [], 0, 0
        for doc_spans in self.spans:
            if len(doc_spans) == 0 or len(doc_spans[0]) == 0:
                outputs.append(TransformerData.empty())
                continue
            start_i = first[doc_spans[0].doc] + doc_spans[0].start
            end_i = first[doc_spans[-1].doc] + doc_spans[-1][-1].i + 1
            end = start + len(doc_spans)
            doc_tokens = self.wordpieces[start:end]
            doc_align = self.align[start_i:end_i]
            doc_align.data = doc_align.data - prev_tokens
            model_output = ModelOutput()
            for key, out in arrays.items():
                model_output[key] = (
                    [t[start:end] for t in out] if isinstance(out, list) else out[start:end]
                )
            outputs.append(
                TransformerData(wordpieces=doc_tokens, model_output=model_output, align=doc_align)
            )
            prev_tokens += doc_tokens.input_ids.size
            start += len(doc_spans)
        return outputs


def _xp_outputs(model_output) -> ModelOutput:
    """The outputs as arrays: tensors, and tuples of tensors with a row per window."""
    import torch

    arrays = ModelOutput()
    rows = model_output.last_hidden_state.shape[0]
    for key, output in model_output.items():
        if isinstance(output, torch.Tensor):
            arrays[key] = torch2xp(output)
        elif isinstance(output, tuple) and all(
            isinstance(t, torch.Tensor) and t.shape[0] == rows for t in output
        ):
            arrays[key] = [torch2xp(t) for t in output]
    return arrays
