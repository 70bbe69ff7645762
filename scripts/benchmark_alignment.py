"""Wordpiece tokenisation and alignment, spacy-transformers' against zh_medner's (char_align.py):
the same records cut into the pipeline's windows, batches of 512 records, one thread.

  python scripts/benchmark_alignment.py corpus/cmeee/dev.spacy
"""

import time
from pathlib import Path

import typer
from wasabi import msg


def main(
    data: Path = typer.Argument(..., help="a DocBin of records"),
    encoder: Path = typer.Option(Path("encoders/medchar-roformer-4x256"), "--encoder"),
    batch: int = typer.Option(512, "--batch"),
    window: int = typer.Option(128, "--window"),
    stride: int = typer.Option(112, "--stride"),
):
    """Print seconds for tokenising and aligning every batch, upstream and ours."""
    import spacy
    import torch
    from spacy.tokens import DocBin
    from spacy_transformers.align import get_alignment_via_offset_mapping
    from spacy_transformers.layers.transformer_model import huggingface_tokenize
    from spacy_transformers.span_getters import configure_strided_spans
    from transformers import AutoTokenizer

    from zh_medner.components.char_align import align_by_offsets, tokenize

    torch.set_num_threads(1)
    docs = list(DocBin().from_disk(data).get_docs(spacy.blank("zh").vocab))
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    get_spans = configure_strided_spans(window, stride)
    runs = {
        "spacy-transformers": (huggingface_tokenize, get_alignment_via_offset_mapping),
        "zh_medner char_align": (tokenize, align_by_offsets),
    }
    seconds = {name: [0.0, 0.0] for name in runs}
    for start in range(0, len(docs), batch):
        spans = [s for doc_spans in get_spans(docs[start : start + batch]) for s in doc_spans]
        texts = [s.text for s in spans]
        for name, (tokenise, align) in runs.items():
            t0 = time.perf_counter()
            encoding = tokenise(tokenizer, texts)
            t1 = time.perf_counter()
            align(spans, encoding["offset_mapping"])
            seconds[name][0] += t1 - t0
            seconds[name][1] += time.perf_counter() - t1
    chars = sum(len(d.text) for d in docs)
    msg.info(f"{len(docs)} records, {chars} characters, batches of {batch}, one thread")
    rows = [(name, f"{t:.2f}", f"{a:.2f}", f"{t + a:.2f}") for name, (t, a) in seconds.items()]
    msg.table(rows, header=("", "tokenise s", "align s", "total s"), divider=True)


if __name__ == "__main__":
    typer.run(main)
