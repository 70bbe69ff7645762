"""The speed benchmark measures the encoder on the same windows as the pipeline."""

import spacy
from spacy_transformers.span_getters import configure_strided_spans

from .conftest import ROOT, load_script

bench = load_script("benchmark_speed")


def test_windows_match_the_pipelines_strided_spans():
    nlp = spacy.blank("zh")
    get_spans = configure_strided_spans(window=bench.WINDOW, stride=bench.STRIDE)
    for n in (1, 50, 128, 129, 300, 1000):
        text = "".join(chr(0x4E00 + i % 500) for i in range(n))
        (spans,) = get_spans([nlp.make_doc(text)])
        assert bench.windows(text) == [s.text for s in spans]


def test_bench_texts_mix_short_notes_and_long_records(tmp_path):
    texts = bench.bench_texts(
        None,
        ROOT / "assets" / "default_corpus.label_studio.json",
        n_short=10,
        n_long=2,
        long_parts=5,
    )
    assert len(texts) == 12
    assert min(len(t) for t in texts[10:]) > max(len(t) for t in texts[:10])
