"""The span head's lexicon features (zh_medner/components/lexicon_flags.py)."""

import contextlib
import pickle
import random

import numpy
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from zh_medner.components import lexicon_flags
from zh_medner.components.lexicon_flags import (
    PrefixHashes,
    batch_lexicon,
    build_lexicon_flags,
    set_lexicon,
    window_hashes,
)

from .serving_pipeline import small_pipeline
from .test_components_span_head import blank


def layer_with(terms: dict, max_length: int = 8):
    layer = build_lexicon_flags(max_length=max_length)
    set_lexicon(layer, terms)
    return layer


def reference_flags(doc, terms: dict, max_length: int) -> numpy.ndarray:
    """Every token window compared with every term: slow and plain."""
    texts = [t.text for t in doc]
    flags = numpy.zeros((len(doc), 3 * len(terms)), dtype="float32")
    for k, label in enumerate(sorted(terms)):
        for term in terms[label]:
            n = len(term)
            if not 2 <= n <= max_length:
                continue
            for i in range(len(doc) - n + 1):
                if texts[i : i + n] == list(term):
                    flags[i, 3 * k] = 1
                    flags[i + 1 : i + n - 1, 3 * k + 1] = 1
                    flags[i + n - 1, 3 * k + 2] = 1
    return flags


def test_lexicon_flags_mark_begin_middle_end_per_type():
    layer = layer_with({"DRU": ["阿莫西林"], "SYM": ["头痛", "痛"]})
    (flags,) = layer.predict([blank().make_doc("服阿莫西林头痛")])
    # columns: DRU B/M/E, SYM B/M/E (one-character terms are never matched)
    assert flags.shape == (7, 6)
    assert flags[:, :3].tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 0],
        [0, 0, 0],
    ]
    assert flags[5:, 3:].tolist() == [[1, 0, 0], [0, 0, 1]]


def test_lexicon_flags_at_the_text_edges_overlaps_and_an_empty_doc():
    layer = layer_with({"SYM": ["头痛", "头痛欲裂", "欲裂", "头痛欲裂吗"]}, max_length=4)
    # 头痛 and 头痛欲裂 share a start; 欲裂 ends at the last character; 头痛欲裂吗 is too long
    flags, empty = layer.predict([blank().make_doc("头痛欲裂"), blank().make_doc("")])
    assert flags.tolist() == [[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]]
    assert empty.shape == (0, 3)


def test_a_run_of_whitespace_is_one_token_and_the_flags_after_it_stay_on_their_tokens():
    # the tokens are 头 痛 " " 阿 莫 西 林 "\n\n\n" 头 痛: reading the joined token texts put
    # the last 头痛's flags two tokens late, past the doc's end (an IndexError)
    doc = blank().make_doc("头痛  阿莫西林\n\n\n头痛")
    assert doc[2].is_space and doc[7].text == "\n\n\n"
    terms = {"DRU": ["阿莫西林"], "SYM": ["头痛"]}
    (flags,) = layer_with(terms).predict([doc])
    assert numpy.array_equal(flags, reference_flags(doc, terms, 8))
    assert flags[3, 0] == 1 and flags[6, 2] == 1  # 阿 ... 林
    assert flags[-2, 3] == 1 and flags[-1, 5] == 1  # the last 头痛


def test_a_term_matches_inside_one_doc_never_across_two_of_a_batch():
    layer = layer_with({"SYM": ["头痛"]})
    first, second = layer.predict([blank().make_doc("头"), blank().make_doc("痛")])
    assert not first.any() and not second.any()


def test_a_term_of_two_types_flags_both():
    (flags,) = layer_with({"DIS": ["糖尿病"], "SYM": ["糖尿病"]}).predict(
        [blank().make_doc("糖尿病")]
    )
    assert flags.tolist() == [[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 1]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_batches_agree_with_the_plain_comparison(seed):
    rng = random.Random(seed)
    alphabet = "头痛发热咳嗽阿莫西林 \n"
    terms = {
        label: sorted({"".join(rng.choices(alphabet[:-2], k=rng.randint(1, 7))) for _ in range(30)})
        for label in ("DRU", "ITE", "SYM")
    }
    nlp = blank()
    docs = [nlp.make_doc("".join(rng.choices(alphabet, k=rng.randint(0, 60)))) for _ in range(40)]
    layer = layer_with(terms, max_length=5)
    for doc, flags in zip(docs, layer.predict(docs)):
        assert numpy.array_equal(flags, reference_flags(doc, terms, 5)), doc.text


def test_a_batch_matched_at_once_gives_each_chunk_the_flags_it_would_get_alone(monkeypatch):
    # the span head predicts a batch 16 docs at a time; the batch is matched in one pass
    terms = {"DRU": ["阿莫西林"], "SYM": ["头痛", "发热"]}
    layer = layer_with(terms)
    nlp = blank()
    docs = [nlp.make_doc(t) for t in ("服阿莫西林头痛", "发热", "", "头痛发热三天")]
    alone = [layer.predict([doc])[0] for doc in docs]
    calls = []
    matched = lexicon_flags.batch_flags
    monkeypatch.setattr(
        lexicon_flags, "batch_flags", lambda table, ds: calls.append(len(ds)) or matched(table, ds)
    )
    with batch_lexicon(layer, docs):
        chunks = layer.predict(docs[:2]) + layer.predict(docs[2:])
        (other,) = layer.predict([nlp.make_doc("头痛")])  # not of the batch: matched alone
    assert calls == [4, 1]
    assert all(numpy.array_equal(a, b) for a, b in zip(alone, chunks))
    assert other.tolist() == [[0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]]
    assert layer._func.prepared == {}
    with pytest.raises(RuntimeError), batch_lexicon(layer, docs):
        raise RuntimeError
    assert layer._func.prepared == {}  # an error inside leaves no batch behind


def test_a_batch_that_fails_to_match_leaves_no_layer_holding_flags(monkeypatch):
    from thinc.api import concatenate

    first, second = layer_with({"SYM": ["头痛"]}), layer_with({"SYM": ["发热"]})
    matched = lexicon_flags.batch_flags

    def second_fails(table, docs):
        if table is second._func.table:
            raise MemoryError
        return matched(table, docs)

    monkeypatch.setattr(lexicon_flags, "batch_flags", second_fails)
    with pytest.raises(MemoryError), batch_lexicon(concatenate(first, second), [blank()("头痛")]):
        pass
    assert first._func.prepared == {} and second._func.prepared == {}


def test_the_span_head_matches_a_batch_once_and_predicts_as_chunk_by_chunk(monkeypatch):
    import zh_medner.components.span_head as span_head

    head = small_pipeline().get_pipe("span_head")
    nlp = blank()
    texts = ("服阿莫西林", "头痛", "", "发热三天，头痛", "口服阿莫西林胶囊")
    docs = [nlp.make_doc(t) for t in texts]
    monkeypatch.setattr(span_head, "PREDICT_DOCS", 2)
    with monkeypatch.context() as chunkwise:  # each chunk of two matches its own docs
        chunkwise.setattr(span_head, "batch_lexicon", lambda *args: contextlib.nullcontext())
        alone = head.predict(docs)
    calls = []
    matched = lexicon_flags.batch_flags
    monkeypatch.setattr(
        lexicon_flags, "batch_flags", lambda table, ds: calls.append(len(ds)) or matched(table, ds)
    )
    batched = head.predict(docs)
    assert calls == [4]  # the four docs with tokens, in one pass
    assert all(numpy.array_equal(a, b) for a, b in zip(alone, batched))


def test_lexicon_features_without_a_lexicon_say_how_to_give_one():
    with pytest.raises(ValueError, match=r"initialize.components.span_head.lexicon"):
        set_lexicon(build_lexicon_flags(), None)


@pytest.mark.parametrize("n", [1, 2, 5, 16, 300])
def test_prefix_hashes_give_each_window_the_hash_of_its_ids(n):
    ids = numpy.random.default_rng(n).integers(0, 2**64 - 1, 300, dtype=numpy.uint64)
    expected = window_hashes(sliding_window_view(ids, n))
    assert (PrefixHashes(ids).windows(n) == expected).all()


def test_the_layer_pickles_for_spawned_workers_and_flags_the_same_after():
    # nlp.pipe(n_process=N) with spawned workers (macOS, Windows) pickles the pipeline
    layer = layer_with({"DRU": ["阿莫西林"], "SYM": ["头痛"]})
    doc = blank().make_doc("服阿莫西林头痛")
    (before,) = layer.predict([doc])
    copied = pickle.loads(pickle.dumps(layer))
    (after,) = copied.predict([doc])
    assert (after == before).all() and after.sum() == 6


def test_a_pipeline_with_lexicon_flags_and_context_pickles_whole():
    nlp = small_pipeline()
    text = "患者否认高血压，予阿莫西林胶囊口服，头痛。"
    before = [(e.start_char, e.end_char, e.label_, e._.negated) for e in nlp(text).ents]
    copied = pickle.loads(pickle.dumps(nlp))
    after = [(e.start_char, e.end_char, e.label_, e._.negated) for e in copied(text).ents]
    assert after == before and before
