"""Masked-LM pretraining of a character BERT, sized to a wall-clock budget.

The recipe is chosen to learn the most per CPU-second:
- a vocabulary cut to the characters the text uses ([UNK] for the rest);
- word2vec character vectors as the initial input embeddings (see word2vec.py);
- whole-word masking over a medical lexicon, masks drawn anew for every batch;
- the prediction head run only at masked positions (the vocabulary projection is
  the largest matrix in a small model);
- sequence packing: windows cut from one stream of documents joined by [SEP], so no
  position is padding; short windows for most of the budget, long ones at the end;
- a learning rate that warms up and decays linearly over the *time* budget.

It checkpoints every few minutes (model, optimizer, step, time spent, vocabulary) and
`resume` continues from there, on this machine or another. The random state of step N is a
function of (seed, N), so a resumed run draws the batches a straight run would have.
A run works in OUTPUT.partial: its Hugging Face folder (with the masked-LM head, so
`AutoModelForMaskedLM` loads it) is rewritten there at every checkpoint, so an interrupted
run still leaves an encoder, and OUTPUT is replaced only when the run ends, never by a model
whose loss went NaN. Arguments are checked before any text is read (pretrain_setup.py).
"""

import dataclasses
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..components.precision import autocast, resolve_precision
from ..io import write_atomic, write_text_atomic
from ..locking import output_lock
from .masking import IGNORE, WordSegmenter, apply_mask, choose_masked, id_to_char, read_lexicon
from .pretrain_setup import (
    ARCHITECTURES,  # noqa: F401 (part of this module's interface)
    CHECKPOINT,  # noqa: F401
    Start,
    check_arguments,
    check_init_from,
    plan_start,
    prepare_work,
    replace_folder,
)
from .text import PretrainTextError, TextSource, fingerprint, read_source, tokenize_lines
from .vocab import CLS, MASK, SEP, SPECIAL_TOKENS, count_chars, save_tokenizer, vocab_from_counts

HISTORY = "pretraining.json"
EVAL_LENGTH = 128


@dataclass
class Recipe:
    arch: str = "roformer"
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    seq_len: int = 64
    long_seq_len: int = 128
    long_fraction: float = 0.2  # share of the budget spent on long windows, at the end
    batch_tokens: int = 2048
    lr: float = 1e-3
    warmup_fraction: float = 0.04
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    whole_word: bool = True
    word2vec: bool = True
    min_char_count: int = 3
    heldout_percent: float = 1.0
    seed: int = 0
    precision: str = "auto"  # fp32 | bf16 | auto (bf16 autocast where the CPU supports it)
    train_dropout: float | None = None  # dropout while pretraining; None keeps the model's


@dataclass
class Progress:
    step: int = 0
    seconds: float = 0.0  # time in training steps: what the schedule runs on
    wall_seconds: float = 0.0  # everything: data, evaluation, checkpoints
    tokens: int = 0
    history: list[dict] = field(default_factory=list)


def _number(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 4)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def learning_rate(recipe: Recipe, seconds: float, budget: float) -> float:
    warmup = max(1e-9, recipe.warmup_fraction * budget)
    if seconds < warmup:
        return recipe.lr * seconds / warmup
    return recipe.lr * max(0.0, (budget - seconds) / max(1e-9, budget - warmup))


def window_length(recipe: Recipe, seconds: float, budget: float) -> int:
    return (
        recipe.long_seq_len if seconds >= (1.0 - recipe.long_fraction) * budget else recipe.seq_len
    )


class Streams:
    """Token streams per source, the held-out stream, and windows sampled from them."""

    def __init__(self, train: list[np.ndarray], weights: Sequence[float], heldout: np.ndarray):
        self.train, self.heldout = train, heldout
        mass = np.array([w * len(s) for w, s in zip(weights, train)], dtype=np.float64)
        self.p = mass / mass.sum()

    def windows(self, rng: np.random.Generator, count: int, length: int) -> np.ndarray:
        """[count, length] windows: [CLS] + a random stretch of a stream + [SEP]."""
        out = np.empty((count, length), dtype=np.int64)
        out[:, 0], out[:, -1] = CLS, SEP
        body = length - 2
        for row, k in enumerate(rng.choice(len(self.train), size=count, p=self.p)):
            stream = self.train[k]
            if len(stream) <= body:
                piece = np.resize(stream, body)
            else:
                start = int(rng.integers(0, len(stream) - body))
                piece = stream[start : start + body]
            out[row, 1:-1] = piece
        return out

    def eval_batch(self, seed: int, count: int, prob: float) -> tuple | None:
        """Fixed held-out windows with 15% single characters replaced by [MASK]."""
        body = EVAL_LENGTH - 2
        n = min(count, len(self.heldout) // body)
        if n == 0:
            return None
        ids = np.empty((n, EVAL_LENGTH), dtype=np.int64)
        ids[:, 0], ids[:, -1] = CLS, SEP
        ids[:, 1:-1] = self.heldout[: n * body].reshape(n, body)
        rng = np.random.default_rng([seed, 999_999])
        chosen = choose_masked(ids, rng, prob)
        labels = np.where(chosen, ids, IGNORE)
        inputs = np.where(chosen, MASK, ids)
        return inputs, labels


def load_streams(
    sources: Sequence[TextSource],
    heldout_sources: Sequence[int],
    recipe: Recipe,
    vocab: list[str] | None,
    cache_dir: Path,
    log: Callable[[str], None],
):
    """(vocab, Streams): read, split, count, tokenize; cached by a fingerprint of all inputs."""
    key_parts = (
        str(sorted(heldout_sources)),
        str(recipe.heldout_percent),
        str(recipe.seed),
        str(recipe.min_char_count),
    )
    # A resumed run passes the vocabulary its first run counted: that run's cache serves it.
    candidates = [fingerprint(sources, "counted", *key_parts)]
    if vocab:
        candidates.insert(0, fingerprint(sources, "\n".join(vocab), *key_parts))
    for key in candidates:
        cached = cache_dir / f"tokens-{key}.npz"
        if not cached.exists():
            continue
        data = np.load(cached, allow_pickle=False)
        if vocab and [str(t) for t in data["vocab"]] != vocab:
            continue
        vocab = [str(t) for t in data["vocab"]]
        train = [data[f"train_{i}"] for i in range(len(sources))]
        log(f"token cache {cached}: {sum(len(t) for t in train):,} training tokens")
        return vocab, Streams(train, [s.weight for s in sources], data["heldout"])
    cached = cache_dir / f"tokens-{candidates[0]}.npz"
    lines, held = [], []
    for i, source in enumerate(sources):
        t, h = read_source(source, i in heldout_sources, recipe.seed, recipe.heldout_percent)
        lines.append(t)
        held.extend(h)
        log(
            f"{source.path}: {len(t):,} training lines, {len(h):,} held out (weight "
            f"{source.weight:g})"
        )
    if vocab is None:
        counts = count_chars(line for part in lines for line in part)
        vocab = vocab_from_counts(counts, recipe.min_char_count)
        log(f"vocabulary: {len(vocab):,} tokens (characters seen >= {recipe.min_char_count} times)")
    from transformers import BertTokenizerFast

    tmp_vocab = cache_dir / f"vocab-{key}.txt"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp_vocab.write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(tmp_vocab), do_lower_case=True, tokenize_chinese_chars=True
    )
    train = [tokenize_lines(tokenizer, part, SEP) for part in lines]
    heldout = tokenize_lines(tokenizer, held, SEP)
    tmp_vocab.unlink()
    arrays = {f"train_{i}": t for i, t in enumerate(train)}
    write_atomic(
        cached,
        lambda tmp: np.savez(open(tmp, "wb"), vocab=np.array(vocab), heldout=heldout, **arrays),
    )
    log(
        f"tokenized: {sum(len(t) for t in train):,} training tokens, {len(heldout):,} held "
        f"out -> {cached}"
    )
    return vocab, Streams(train, [s.weight for s in sources], heldout)


def masked_lm_loss(model, inputs, labels):
    """Cross-entropy over the masked positions only: the head never sees the others."""
    import torch.nn.functional as F

    hidden = model.base_model(input_ids=inputs).last_hidden_state
    where = labels != IGNORE
    logits = model.cls(hidden[where])
    return F.cross_entropy(logits.float(), labels[where]), logits, labels[where]


def heldout_accuracy(model, batch, device, precision="fp32", batch_size: int = 64) -> float:
    import torch

    if batch is None:
        return float("nan")
    inputs, labels = batch
    correct = total = 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(inputs), batch_size):
            x = torch.from_numpy(inputs[i : i + batch_size]).to(device)
            y = torch.from_numpy(labels[i : i + batch_size]).to(device)
            with _autocast(device, precision):
                _, logits, gold = masked_lm_loss(model, x, y)
            correct += int((logits.argmax(-1) == gold).sum())
            total += int(gold.numel())
    model.train()
    return correct / max(1, total)


def training_precision(recipe: Recipe, device: str) -> str:
    """fp32 or bf16: the recipe's precision resolved for this device (int8 cannot train)."""
    if recipe.precision == "int8":
        raise PretrainTextError("precision int8 is for inference only: use fp32, bf16 or auto")
    if str(device).startswith("cuda"):
        return "fp32" if recipe.precision == "fp32" else "bf16"
    return resolve_precision(recipe.precision)


def _autocast(device, precision: str):
    import torch

    if str(device).startswith("cuda") and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return autocast(precision)


def set_dropout(model, p: float | None) -> None:
    """Dropout of every layer while pretraining (the saved config keeps the model's own)."""
    from torch import nn

    if p is not None:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = p


def new_model(recipe: Recipe, vocab_size: int, streams: Streams, threads: int, log):
    from transformers import AutoConfig, AutoModelForMaskedLM

    config = AutoConfig.for_model(
        recipe.arch,
        vocab_size=vocab_size,
        hidden_size=recipe.hidden,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        intermediate_size=recipe.intermediate,
        max_position_embeddings=512,
    )
    import torch

    torch.manual_seed(recipe.seed)
    model = AutoModelForMaskedLM.from_config(config)
    if recipe.word2vec:
        from .word2vec import word2vec_embeddings

        t0 = time.time()
        vectors = word2vec_embeddings(
            streams.train,
            vocab_size,
            recipe.hidden,
            config.initializer_range,
            recipe.seed,
            workers=threads,
        )
        with torch.no_grad():
            model.base_model.embeddings.word_embeddings.weight.copy_(torch.from_numpy(vectors))
        log(f"word2vec input embeddings ({time.time() - t0:.0f} s)")
    return model


def model_card(
    output: Path, recipe: Recipe, progress: Progress, sources, init_from, done: bool
) -> str:
    last = progress.history[-1] if progress.history else {}
    acc_text = _fmt(last.get("heldout_top1"))
    state = "finished" if done else "in progress (a checkpoint; `--resume` continues it)"
    rows = "\n".join(
        f"| {h['step']:,} | {h['minutes']:.1f} | {h['tokens']:,} | {_fmt(h['loss'])} | "
        f"{_fmt(h['heldout_top1'])} |"
        for h in progress.history
    )
    data = "\n".join(f"- `{s.path}` (sampling weight {s.weight:g})" for s in sources)
    terms = ""
    for cand in dict.fromkeys(
        c for s in sources for c in (s.path / "SOURCE.md", s.path.parent / "SOURCE.md")
    ):
        if cand.exists():  # the sources and their terms, as the text's provider states them
            body = cand.read_text(encoding="utf8").split("\n", 1)[-1].strip()
            body = re.sub(r"^#+ ", "#### ", body, flags=re.M)
            terms = f"\n### Sources and terms (from `{cand}`)\n\n{body}\n"
            break
    start = (
        f"continued from `{init_from}`"
        if init_from
        else (
            "word2vec-initialised input embeddings" if recipe.word2vec else "random initialisation"
        )
    )
    masking = "whole-word (jieba + medical lexicon)" if recipe.whole_word else "single characters"
    facts = [
        (
            "shape",
            f"{recipe.arch}, {recipe.layers} layers x {recipe.hidden} hidden, "
            f"{recipe.heads} heads, FFN {recipe.intermediate}",
        ),
        ("start", start),
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
        ("tokens seen", f"{progress.tokens:,}"),
        (
            "training time",
            f"{progress.seconds / 60:.1f} min in steps, {progress.wall_seconds / 60:.1f} min wall",
        ),
        (
            "held-out masked-character top-1",
            f"**{acc_text}** ({recipe.heldout_percent:g}% of the "
            "held-out source's lines, chosen by a seeded line hash, never trained on; 15% single "
            "characters masked)",
        ),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in facts)
    return f"""# {output.name}: a small Chinese character {recipe.arch} encoder for medical text

Pretrained by zh-medner (`spacy project run pretrain-encoder`, `scripts/pretrain_encoder.py`) with a
masked-LM objective. Status: **{state}**. Load it with `AutoModelForMaskedLM` (the masked-LM head is
kept) or as the encoder of the spaCy pipeline (`--vars.encoder {output}`).

{table}

## Data
{data}
{terms}
None of the text is in this folder or in the project; the weights were learned from it.

## Progress

| step | minutes | tokens | train loss | held-out top-1 |
|---|---|---|---|---|
{rows}
"""


def rewrite_card(output: Path, sources: Sequence[TextSource]) -> None:
    """Write the model card again from the folder's pretraining.json (a newer card template)."""
    history = json.loads((output / HISTORY).read_text(encoding="utf8"))
    recipe, progress = Recipe(**history["recipe"]), Progress(**history["progress"])
    card = model_card(output, recipe, progress, sources, None, history["done"])
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
    save_tokenizer(vocab, folder)
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


def _resumed(start: Start) -> tuple[Recipe, Progress]:
    """The recipe and progress a checkpoint holds (a checkpoint of another version refused)."""
    try:
        return Recipe(**start.state["recipe"]), Progress(**start.state["progress"])
    except TypeError as e:
        raise PretrainTextError(
            f"{start.resumed_from}: a checkpoint this version cannot continue ({e}): start over "
            "with --overwrite"
        ) from None


def _load_model(folder: Path, state: dict | None, where: Path):
    """The masked-LM model of a folder (--init-from, or the run a resume continues)."""
    from transformers import AutoModelForMaskedLM

    try:
        model = AutoModelForMaskedLM.from_pretrained(str(folder))
        if state is not None:
            model.load_state_dict(state["model"])
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise PretrainTextError(f"{where}: cannot load the model ({first})") from None
    return model


def _optimizer(model, recipe: Recipe, state: dict | None):
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    if state is not None:
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError, TypeError) as e:
            raise PretrainTextError(f"the checkpoint's optimizer does not fit ({e})") from None
    return optimizer


def pretrain(
    sources: Sequence[TextSource],
    output: Path,
    minutes: float,
    recipe: Recipe,
    lexicon_files: Sequence[Path] = (),
    heldout_sources: Sequence[int] = (0,),
    cache_dir: Path = Path(".cache/pretrain"),
    resume: bool = False,
    init_from: Path | None = None,
    checkpoint_minutes: float = 5.0,
    checkpoint_dir: Path | None = None,
    fp16_weights: bool = False,
    eval_sequences: int = 512,
    threads: int = 0,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    progress_bar: bool = True,
    overwrite: bool = False,
) -> Progress:
    """Pretrain into OUTPUT (see pretrain_setup.py: new folder, --resume, --overwrite)."""
    check_arguments(sources, minutes, recipe, checkpoint_minutes, threads, lexicon_files)
    if not resume:
        training_precision(recipe, device)  # int8 refused here, before any reading
    init_vocab = check_init_from(Path(init_from)) if init_from is not None and not resume else None
    output = Path(output)
    with output_lock(output):
        start = plan_start(output, resume, overwrite, checkpoint_dir)
        if start.state is None:
            start.vocab, start.init_from = init_vocab, Path(init_from) if init_from else None
        return _pretrain(
            start,
            sources,
            minutes,
            recipe,
            lexicon_files,
            heldout_sources,
            cache_dir,
            checkpoint_minutes,
            fp16_weights,
            eval_sequences,
            threads,
            device,
            log,
            progress_bar,
        )


def _pretrain(
    start: Start,
    sources,
    minutes,
    recipe,
    lexicon_files,
    heldout_sources,
    cache_dir,
    checkpoint_minutes,
    fp16_weights,
    eval_sequences,
    threads,
    device,
    log,
    progress_bar,
) -> Progress:
    import torch
    from tqdm import tqdm

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    wall0 = time.time()
    output, work, ckpt, state = start.output, start.work, start.checkpoint, start.state
    init_from, progress, model = start.init_from, Progress(), None
    if state is not None:
        recipe, progress = _resumed(start)
        log(
            f"resuming {start.resumed_from}: step {progress.step:,}, "
            f"{progress.seconds / 60:.1f} of {minutes:g} min"
        )
        model = _load_model(start.copy_from or work, state, start.resumed_from)
    elif init_from is not None:
        model = _load_model(init_from, None, init_from)
    vocab, streams = load_streams(sources, heldout_sources, recipe, start.vocab, cache_dir, log)
    if model is None:
        model = new_model(recipe, len(vocab), streams, threads, log)
    prepare_work(start)
    model.to(device).train()
    set_dropout(model, recipe.train_dropout)
    precision = training_precision(recipe, device)
    log(f"precision {precision} (recipe: {recipe.precision})")
    optimizer = _optimizer(model, recipe, state)
    segmenter = chars = None
    if recipe.whole_word:
        segmenter = WordSegmenter(read_lexicon(lexicon_files))
        chars = id_to_char(vocab)
    first_normal = len(SPECIAL_TOKENS)
    eval_batch = streams.eval_batch(recipe.seed, eval_sequences, 0.15)
    budget = minutes * 60.0

    def checkpoint(loss_avg: float, done: bool) -> None:
        acc = heldout_accuracy(model, eval_batch, device)  # fp32: comparable across runs
        progress.history.append(
            {
                "step": progress.step,
                "minutes": round(progress.seconds / 60, 2),
                "tokens": progress.tokens,
                "loss": _number(loss_avg),
                "heldout_top1": _number(acc),
            }
        )
        progress.wall_seconds += time.time() - wall_mark[0]
        wall_mark[0] = time.time()
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "recipe": dataclasses.asdict(recipe),
            "progress": dataclasses.asdict(progress),
            "init_from": str(init_from) if init_from else "",
            "vocab": list(vocab),
        }
        write_atomic(ckpt, lambda tmp: torch.save(state, tmp))
        export(model, vocab, output, recipe, progress, sources, init_from, done, fp16_weights, work)
        log(
            f"step {progress.step:,}  {progress.seconds / 60:.1f} min  loss {loss_avg:.3f}  "
            f"held-out top-1 {acc:.3f}"
        )

    wall_mark = [wall0]
    if progress.step == 0:
        checkpoint(float("nan"), False)
    bar = tqdm(
        total=round(budget),
        initial=round(min(progress.seconds, budget)),
        unit="s",
        disable=not progress_bar,
        dynamic_ncols=True,
        mininterval=1 if os.isatty(2) else 30,
    )
    last_ckpt = progress.seconds
    losses: list[float] = []
    while progress.seconds < budget:
        t0 = time.perf_counter()
        length = window_length(recipe, progress.seconds, budget)
        rng = np.random.default_rng([recipe.seed, progress.step])
        ids = streams.windows(rng, max(1, recipe.batch_tokens // length), length)
        chosen = choose_masked(ids, rng, recipe.mask_prob, segmenter, chars)
        inputs, labels = apply_mask(ids, chosen, rng, len(vocab), first_normal)
        lr = learning_rate(recipe, progress.seconds, budget)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with _autocast(device, precision):
            loss, _, _ = masked_lm_loss(
                model, torch.from_numpy(inputs).to(device), torch.from_numpy(labels).to(device)
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            bar.close()
            raise PretrainTextError(
                f"step {progress.step:,}: the loss is {losses[-1]}: training diverged (try a "
                f"lower --lr). {output} is unchanged; {work} holds the last checkpoint"
            )
        spent = time.perf_counter() - t0
        progress.seconds += spent
        progress.step += 1
        progress.tokens += int(ids.size)
        bar.update(round(min(progress.seconds, budget)) - bar.n)
        bar.set_postfix(
            loss=f"{np.mean(losses[-50:]):.3f}", tok_s=f"{ids.size / spent:,.0f}", lr=f"{lr:.2e}"
        )
        if progress.seconds - last_ckpt >= checkpoint_minutes * 60:
            checkpoint(float(np.mean(losses[-200:])), False)
            last_ckpt = progress.seconds
    bar.close()
    checkpoint(float(np.mean(losses[-200:])) if losses else float("nan"), True)
    replace_folder(work, output)
    return progress
