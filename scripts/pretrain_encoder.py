"""Pretrain (or continue pretraining) a small Chinese character encoder (RoFormer by default) on
unlabeled text, within a time budget (zh_medner/encoder/pretrain.py).

The recipe comes from `--recipe FILE` (configs/pretrain_medchar_roformer.json is the shipped
encoder's; an encoder's pretraining.json works too), and every recipe option given here
overrides it; without --recipe, the Recipe defaults (zh_medner/encoder/recipe.py). Whole-word
masking needs jieba and word2vec embeddings need gensim: `pip install -e ".[pretrain]"`.
"""

from pathlib import Path

import typer
from wasabi import msg

from zh_medner.encoder.masking import lexicon_files
from zh_medner.encoder.model_card import measure
from zh_medner.encoder.pretrain import pretrain, rewrite_card
from zh_medner.encoder.recipe import Recipe, read_recipe, with_overrides
from zh_medner.encoder.text import TextSource
from zh_medner.io import PathError

SHARED = Path("../shared/data")
RECIPE_HELP = "overrides the recipe (default: --recipe's value, else the Recipe default)"


def _rewrite_card(output: Path, sources) -> None:
    """--card-only: the card of a finished folder, written again from its pretraining.json."""
    if not (output / "pretraining.json").is_file():
        msg.fail(f"{output}/pretraining.json: no such file: not a pretrained folder", exits=1)
    rewrite_card(output, sources)
    msg.good(f"{output}/README.md rewritten")


def _recipe(recipe_file: Path | None, overrides: dict, init_from: Path | None) -> Recipe:
    """--recipe's file (else the Recipe defaults) with every recipe option given on the command
    line; no word2vec for a model that already has its embeddings (--init-from)."""
    recipe = with_overrides(
        read_recipe(recipe_file) if recipe_file else Recipe(),
        **{k: v for k, v in overrides.items() if k in Recipe.__dataclass_fields__},
    )
    return with_overrides(recipe, word2vec=False) if init_from is not None else recipe


def main(
    output: Path = typer.Argument(
        ...,
        help="Hugging Face folder to write (and checkpoint/ inside it); a new folder unless "
        "--resume or --overwrite. The run works in OUTPUT.partial and replaces OUTPUT at the end",
    ),
    recipe_file: Path | None = typer.Option(
        None, "--recipe", help="JSON recipe (configs/pretrain_*.json, or a pretraining.json)"
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
        None, "--init-from", help="continue pretraining a local masked-LM folder"
    ),
    arch: str | None = typer.Option(
        None,
        "--arch",
        help="bert (learned positions), megatron-bert (pre-LN), roformer (rotary) or "
        "modernbert (rotary, pre-LN, GLU, no biases)",
    ),
    layers: int | None = typer.Option(None, "--layers", help=RECIPE_HELP),
    hidden: int | None = typer.Option(None, "--hidden", help=RECIPE_HELP),
    heads: int | None = typer.Option(None, "--heads", help=RECIPE_HELP),
    intermediate: int | None = typer.Option(None, "--intermediate", help=RECIPE_HELP),
    seq_len: int | None = typer.Option(None, "--seq-len", help=RECIPE_HELP),
    long_seq_len: int | None = typer.Option(None, "--long-seq-len", help=RECIPE_HELP),
    long_fraction: float | None = typer.Option(None, "--long-fraction", help=RECIPE_HELP),
    batch_tokens: int | None = typer.Option(None, "--batch-tokens", help=RECIPE_HELP),
    lr: float | None = typer.Option(None, "--lr", help=RECIPE_HELP),
    mask_prob: float | None = typer.Option(None, "--mask-prob", help=RECIPE_HELP),
    whole_word: bool | None = typer.Option(None, "--whole-word/--no-whole-word", help=RECIPE_HELP),
    word2vec: bool | None = typer.Option(None, "--word2vec/--no-word2vec", help=RECIPE_HELP),
    min_char_count: int | None = typer.Option(None, "--min-char-count", help=RECIPE_HELP),
    heldout_percent: float | None = typer.Option(
        None, "--heldout-percent", help="share of the first --text's lines kept aside"
    ),
    seed: int | None = typer.Option(None, "--seed", help=RECIPE_HELP),
    precision: str | None = typer.Option(
        None, "--precision", help="fp32, bf16, or auto (bf16 where the CPU supports it)"
    ),
    train_dropout: float | None = typer.Option(
        None, "--train-dropout", help="dropout while pretraining (default: the model's own)"
    ),
    objective: str | None = typer.Option(
        None, "--objective", help="mlm (masked characters) or rtd (replaced-token detection)"
    ),
    generator: str | None = typer.Option(
        None, "--generator", help="rtd: the frozen masked-LM folder that proposes replacements"
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
    overrides = dict(locals())  # the recipe options given (None: not given)
    sources = [TextSource.parse(t) for t in text]
    if card_only:
        return _rewrite_card(output, sources)
    try:
        progress = pretrain(
            sources,
            output,
            minutes,
            _recipe(recipe_file, overrides, init_from),
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
    except PathError as e:  # every refusal, OUTPUT.lock held by another run too
        msg.fail(str(e), exits=1)
    key, name = measure(read_recipe(output / "pretraining.json"))
    msg.good(
        f"{output}: {progress.step:,} steps, {progress.tokens:,} tokens, {name} "
        f"{progress.history[-1].get(key)}"
    )


if __name__ == "__main__":
    typer.run(main)
