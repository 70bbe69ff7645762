"""A pretrained encoder's folder: the Hugging Face files (`export`), and its README.md, the model
card: what it is, its recipe, data and progress."""

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from ..io import write_text_atomic
from .recipe import Progress, Recipe
from .text import TextSource
from .vocab import save_tokenizer

HISTORY = "pretraining.json"  # the recipe, progress and state of the run, beside the card


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _terms(sources: Sequence[TextSource]) -> str:
    """The sources and their terms, as the text's provider states them (a SOURCE.md beside or
    above the text), or nothing."""
    found = (c for s in sources for c in (s.path / "SOURCE.md", s.path.parent / "SOURCE.md"))
    for cand in dict.fromkeys(found):
        if cand.exists():
            body = cand.read_text(encoding="utf8").split("\n", 1)[-1].strip()
            body = re.sub(r"^#+ ", "#### ", body, flags=re.M)
            return f"\n### Sources and terms (from `{cand}`)\n\n{body}\n"
    return ""


SHAPE_NOTES = {
    "roformer": " (rotary positions)",
    "modernbert": " (rotary positions, pre-LayerNorm, GLU, no biases, no dropout)",
}


def measure(recipe: Recipe) -> tuple[str, str]:
    """The held-out measure of the recipe's objective: (history key, its name on the card)."""
    if recipe.objective == "rtd":
        return "heldout_rtd_f1", "held-out replaced-token F1"
    return "heldout_top1", "held-out masked-character top-1"


def _objective(recipe: Recipe) -> tuple[str, str]:
    if recipe.objective == "rtd":
        return (
            "objective",
            f"replaced-token detection (two-stage ELECTRA): the frozen generator "
            f"`{recipe.generator}` fills the masked positions; the loss is on every position",
        )
    return ("objective", "masked characters, the loss on the masked positions only")


def _facts(recipe: Recipe, progress: Progress, init_from) -> list[tuple[str, str]]:
    last = progress.history[-1] if progress.history else {}
    key, name = measure(recipe)
    if init_from:
        start = f"continued from `{init_from}`"
    else:
        start = (
            "word2vec-initialised input embeddings" if recipe.word2vec else "random initialisation"
        )
    masking = "whole-word (jieba + medical lexicon)" if recipe.whole_word else "single characters"
    return [
        (
            "shape",
            f"{recipe.arch}, {recipe.layers} layers x {recipe.hidden} hidden, "
            f"{recipe.heads} heads, FFN {recipe.intermediate}{SHAPE_NOTES.get(recipe.arch, '')}",
        ),
        ("start", start),
        _objective(recipe),
        ("masking", f"{masking}, {recipe.mask_prob:.0%}, 80/10/10, new masks every batch"),
        (
            "windows",
            f"{recipe.seq_len} tokens, then {recipe.long_seq_len} for the last "
            f"{recipe.long_fraction:.0%} of the time; packed, no padding",
        ),
        (
            "batch",
            f"{recipe.batch_tokens} tokens; AdamW, peak lr {recipe.lr:g}, warm-up "
            f"{recipe.warmup_fraction:.0%}, linear decay over the time budget",
        ),
        ("steps", f"{progress.step:,}"),
        ("tokens seen", _tokens_seen(progress)),
        (
            "training time",
            f"{progress.seconds / 60:.1f} min in steps, {progress.wall_seconds / 60:.1f} min wall",
        ),
        (
            name,
            f"**{_fmt(last.get(key))}** ({recipe.heldout_percent:g}% of the "
            "held-out source's lines, chosen by a seeded line hash, never trained on; 15% single "
            "characters masked" + ("; scored at every position)" if key != "heldout_top1" else ")"),
        ),
    ]


def _tokens_seen(progress: Progress) -> str:
    if not progress.stages:
        return f"{progress.tokens:,}"
    total = progress.tokens + sum(s["tokens"] for s in progress.stages)
    return f"{progress.tokens:,} in this stage; {total:,} in all {len(progress.stages) + 1} stages"


def _stages(progress: Progress) -> str:
    """The runs these weights continue, oldest first, then this one."""
    if not progress.stages:
        return ""
    rows = [
        f"| {i} | `{s['folder']}` as it was | lr {s['recipe']['lr']:g}, "
        f"{s['recipe'].get('precision', 'fp32')} | {s['steps']:,} | {s['tokens']:,} | "
        f"{s['minutes']:.1f} ({s['wall_minutes']:.1f} wall) | {_fmt(s['heldout_top1'])} |"
        for i, s in enumerate(progress.stages, 1)
    ]
    last = progress.history[-1] if progress.history else {}
    rows.append(
        f"| {len(rows) + 1} | this run | see above | {progress.step:,} | {progress.tokens:,} | "
        f"{progress.seconds / 60:.1f} ({progress.wall_seconds / 60:.1f} wall) | "
        f"{_fmt(last.get('heldout_top1'))} |"
    )
    return (
        "\n## Stages\n\nEach stage continued the weights of the one before (`--init-from`); "
        "pretraining.json keeps every stage's recipe.\n\n"
        "| stage | weights | recipe | steps | tokens | minutes | held-out top-1 at its end |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def model_card(
    output: Path, recipe: Recipe, progress: Progress, sources, init_from, done: bool
) -> str:
    state = "finished" if done else "in progress (a checkpoint; `--resume` continues it)"
    facts = _facts(recipe, progress, init_from)
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in facts)
    key, name = measure(recipe)
    rows = "\n".join(
        f"| {h['step']:,} | {h['minutes']:.1f} | {h['tokens']:,} | {_fmt(h['loss'])} | "
        f"{_fmt(h.get(key))} |"
        for h in progress.history
    )
    if recipe.objective == "rtd":
        objective, loading = "a replaced-token detection", "`AutoModel` (it has no masked-LM head)"
    else:
        objective, loading = "a masked-LM", "`AutoModelForMaskedLM` (the masked-LM head is kept)"
    data = "\n".join(f"- `{s.path}` (sampling weight {s.weight:g})" for s in sources)
    return f"""# {output.name}: a small Chinese character {recipe.arch} encoder for medical text

Pretrained by zh-medner (`scripts/pretrain_encoder.py`: `spacy project run pretrain-encoder`, and
`pretrain-encoder-continue` for a stage that continues another encoder) with
{objective} objective. Status: **{state}**. Load it with {loading} or as the encoder of the spaCy
pipeline (`--vars.encoder {output}`).

{table}
{_stages(progress)}
## Data
{data}
{_terms(sources)}
None of the text is in this folder or in the project; the weights were learned from it.

## Progress

| step | minutes | tokens | train loss | {name} |
|---|---|---|---|---|
{rows}
"""


def rewrite_card(output: Path, sources: Sequence[TextSource]) -> None:
    """Write the model card again from the folder's pretraining.json (a newer card template)."""
    history = json.loads((output / HISTORY).read_text(encoding="utf8"))
    recipe, progress = Recipe(**history["recipe"]), Progress(**history["progress"])
    init_from = progress.stages[-1]["folder"] if progress.stages else None
    card = model_card(output, recipe, progress, sources, init_from, history["done"])
    write_text_atomic(output / "README.md", card)


def export(
    model,
    vocab,
    output: Path,
    recipe,
    progress,
    sources,
    init_from,
    done: bool,
    fp16: bool = False,
    folder: Path | None = None,
) -> None:
    """Rewrite the Hugging Face folder (`folder`, by default OUTPUT itself): config, tokenizer,
    safetensors, model card (which names OUTPUT), history.

    `fp16` halves the file (the weights load back as float32: the config keeps float32)."""
    folder = folder or output
    folder.mkdir(parents=True, exist_ok=True)
    save_tokenizer(vocab, folder, model.config)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if fp16:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    model.save_pretrained(str(folder), state_dict=state, safe_serialization=True)
    write_text_atomic(
        folder / "README.md", model_card(output, recipe, progress, sources, init_from, done)
    )
    history = {
        "recipe": dataclasses.asdict(recipe),
        "progress": dataclasses.asdict(progress),
        "done": done,
    }
    write_text_atomic(folder / HISTORY, json.dumps(history, indent=1, ensure_ascii=False))
