"""The speed benchmark measures the encoder on the same windows as the pipeline."""

from .conftest import ROOT, load_script

bench = load_script("benchmark_speed")


def test_pieces_are_at_most_126_characters_sorted_and_lossless():
    texts = ["甲" * 300, "乙" * 5, "丙" * 126]
    cut = bench.pieces(texts)
    assert [len(p) for p in cut] == [5, 48, 126, 126, 126]
    assert sorted("".join(cut)) == sorted("".join(texts))


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
