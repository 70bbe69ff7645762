"""Pretrain (or continue pretraining) a character BERT on unlabeled text, within a time budget."""

from pathlib import Path

import typer
from wasabi import msg

from zh_medner.encoder.masking import lexicon_files
from zh_medner.encoder.pretrain import Recipe, pretrain, rewrite_card
from zh_medner.encoder.text import PretrainTextError, TextSource
from zh_medner.io import PathError

SHARED = Path("../shared/data")


def main(
    output: Path = typer.Argument(
        ...,
        help="Hugging Face folder to write (and checkpoint/ inside it); a new folder unless "
        "--resume or --overwrite. The run works in OUTPUT.partial and replaces OUTPUT at the end",
    ),
    text: list[str] = typer.Option(
        [
            str(SHARED / "pretrain_text/medical") + ":3",
            str(SHARED / "pretrain_text/general") + ":1",
        ],
        "--text",
        help="PATH[:WEIGHT]: a .txt/.txt.xz file or folder, one document per line; repeat",
    ),
    lexicon: list[Path] = typer.Option(
        [], "--lexicon", help="one-term-a-line word lists for whole-word masking"
    ),
    lexicon_dir: Path | None = typer.Option(
        None, "--lexicon-dir", help="a dicts folder: its medical term lists"
    ),
    minutes: float = typer.Option(
        30.0, "--minutes", help="training-time budget; the schedule is sized to it"
    ),
    resume: bool = typer.Option(
        False, "--resume", help="continue OUTPUT.partial (an interrupted run) or OUTPUT"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace an existing OUTPUT when the new run ends"
    ),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="continue pretraining a local masked-LM folder (BERT or RoFormer)"
    ),
    arch: str = typer.Option(
        "roformer",
        "--arch",
        help="bert (learned positions), megatron-bert (pre-LN) or roformer (rotary)",
    ),
    layers: int = typer.Option(4, "--layers"),
    hidden: int = typer.Option(256, "--hidden"),
    heads: int = typer.Option(4, "--heads"),
    intermediate: int = typer.Option(1024, "--intermediate"),
    seq_len: int = typer.Option(64, "--seq-len"),
    long_seq_len: int = typer.Option(128, "--long-seq-len"),
    long_fraction: float = typer.Option(0.2, "--long-fraction"),
    batch_tokens: int = typer.Option(2048, "--batch-tokens"),
    lr: float = typer.Option(1e-3, "--lr"),
    mask_prob: float = typer.Option(0.15, "--mask-prob"),
    whole_word: bool = typer.Option(True, "--whole-word/--no-whole-word"),
    word2vec: bool = typer.Option(True, "--word2vec/--no-word2vec"),
    min_char_count: int = typer.Option(3, "--min-char-count"),
    heldout_percent: float = typer.Option(
        1.0, "--heldout-percent", help="share of the first --text's lines kept aside"
    ),
    seed: int = typer.Option(0, "--seed"),
    precision: str = typer.Option(
        "auto", "--precision", help="fp32, bf16, or auto (bf16 where the CPU supports it)"
    ),
    train_dropout: float | None = typer.Option(
        None, "--train-dropout", help="dropout while pretraining (default: the model's own)"
    ),
    checkpoint_minutes: float = typer.Option(5.0, "--checkpoint-minutes"),
    checkpoint_dir: Path | None = typer.Option(
        None, "--checkpoint-dir", help="default: OUTPUT/checkpoint"
    ),
    fp16_weights: bool = typer.Option(
        False, "--fp16-weights", help="save half-size weights (load as fp32)"
    ),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: all cores)"),
    device: str = typer.Option("cpu", "--device", help="cpu, or cuda (bf16)"),
    cache_dir: Path = typer.Option(Path(".cache/pretrain"), "--cache-dir"),
    card_only: bool = typer.Option(False, "--card-only", help="only rewrite OUTPUT/README.md"),
):
    recipe = Recipe(
        arch=arch,
        layers=layers,
        hidden=hidden,
        heads=heads,
        intermediate=intermediate,
        seq_len=seq_len,
        long_seq_len=long_seq_len,
        long_fraction=long_fraction,
        batch_tokens=batch_tokens,
        lr=lr,
        mask_prob=mask_prob,
        whole_word=whole_word,
        word2vec=word2vec and init_from is None,
        min_char_count=min_char_count,
        heldout_percent=heldout_percent,
        seed=seed,
        precision=precision,
        train_dropout=train_dropout,
    )
    sources = [TextSource.parse(t) for t in text]
    if card_only:
        if not (output / "pretraining.json").is_file():
            msg.fail(f"{output}/pretraining.json: no such file: not a pretrained folder", exits=1)
        rewrite_card(output, sources)
        msg.good(f"{output}/README.md rewritten")
        return
    try:
        progress = pretrain(
            sources,
            output,
            minutes,
            recipe,
            lexicon_files=list(lexicon) + (lexicon_files(lexicon_dir) if lexicon_dir else []),
            cache_dir=cache_dir,
            resume=resume,
            init_from=init_from,
            checkpoint_minutes=checkpoint_minutes,
            checkpoint_dir=checkpoint_dir,
            fp16_weights=fp16_weights,
            threads=threads,
            device=device,
            log=msg.info,
            overwrite=overwrite,
        )
    except (PretrainTextError, PathError) as e:  # PathError: OUTPUT.lock held by another run
        msg.fail(str(e), exits=1)
    last = progress.history[-1]
    msg.good(
        f"{output}: {progress.step:,} steps, {progress.tokens:,} tokens, held-out top-1 "
        f"{last['heldout_top1']}"
    )


if __name__ == "__main__":
    typer.run(main)
