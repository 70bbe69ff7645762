"""Masked-LM pretraining of a small Chinese character encoder (RoFormer by default), sized to a
wall-clock budget.

The recipe (recipe.py; the shipped encoder's is configs/pretrain_medchar_roformer.json) is
chosen to learn the most per CPU-second:
- a vocabulary cut to the characters the text uses ([UNK] for the rest);
- word2vec character vectors as the initial input embeddings (word2vec.py);
- masks drawn anew for every batch: single characters (the shipped recipe), or whole words
  over jieba and a medical lexicon (`whole_word`, masking.py);
- the prediction head run only at masked positions (mlm.py);
- sequence packing: windows cut from one stream of documents joined by [SEP], so no
  position is padding; short windows for most of the budget, long ones at the end (streams.py);
- a learning rate that warms up and decays linearly over the *time* budget.

It checkpoints every few minutes (model, optimizer, recipe, progress, vocabulary) and
`resume` continues from there, on this machine or another. The random state of step N is a
function of (seed, N, stage), so a resumed run draws the batches a straight run would have.
A run works in OUTPUT.partial: its Hugging Face folder (with the masked-LM head, so
`AutoModelForMaskedLM` loads it) is rewritten there at every checkpoint, so an interrupted
run still leaves an encoder, and OUTPUT is replaced only when the run ends, never by a model
whose loss went NaN. Arguments are checked before any text is read (pretrain_setup.py).
"""

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import write_atomic
from ..locking import output_lock
from .masking import WordSegmenter, choose_masked, id_to_char, read_lexicon
from .mlm import (
    autocast_for,
    load_model,
    make_optimizer,
    new_model,
    set_dropout,
    training_precision,
)
from .model_card import export, measure, rewrite_card  # noqa: F401 (rewrite_card: this module's interface)
from .objective import MaskedChars, make_objective
from .pretrain_setup import (
    Start,
    check_arguments,
    check_extras,
    check_init_from,
    plan_start,
    prepare_work,
    replace_folder,
)
from .recipe import Progress, Recipe, earlier_stages, learning_rate, window_length
from .streams import Streams, load_streams
from .text import PretrainTextError, TextSource


def _number(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 4)


@dataclass
class Options:
    """How a run works, beside its recipe: none of it changes what the model learns."""

    lexicon_files: Sequence[Path] = ()
    heldout_sources: Sequence[int] = (0,)
    cache_dir: Path = Path(".cache/pretrain")
    checkpoint_minutes: float = 5.0
    fp16_weights: bool = False
    eval_sequences: int = 512
    threads: int = 0
    device: str = "cpu"
    log: Callable[[str], None] = print
    progress_bar: bool = True


@dataclass
class Run:
    """One run's state: what its steps and checkpoints read and change."""

    start: Start
    sources: Sequence[TextSource]
    recipe: Recipe
    options: Options
    vocab: list[str]
    streams: Streams
    model: object
    optimizer: object
    precision: str
    progress: Progress
    objective: MaskedChars  # its loss and held-out measure (objective.py)
    segmenter: WordSegmenter | None = None
    chars: object = None
    wall_mark: float = 0.0  # when the wall time not yet in `progress` started


def _resumed(start: Start) -> tuple[Recipe, Progress]:
    """The recipe and progress a checkpoint holds (a checkpoint of another version refused)."""
    try:
        return Recipe(**start.state["recipe"]), Progress(**start.state["progress"])
    except TypeError as e:
        raise PretrainTextError(
            f"{start.resumed_from}: a checkpoint this version cannot continue ({e}): start over "
            "with --overwrite"
        ) from None


def _prepare(start: Start, sources, minutes: float, recipe: Recipe, opt: Options) -> Run:
    """The model (new, --init-from, or the checkpoint's), the streams and the optimizer. The run's
    wall time starts here: reading the text counts."""
    wall0 = time.time()
    progress, model = Progress(), None
    if start.state is not None:
        recipe, progress = _resumed(start)
        opt.log(
            f"resuming {start.resumed_from}: step {progress.step:,}, "
            f"{progress.seconds / 60:.1f} of {minutes:g} min"
        )
        own = start.state if recipe.objective == "mlm" else None  # else the wrapper's (objective)
        model = load_model(start.copy_from or start.work, own, start.resumed_from)
    elif start.init_from is not None:
        model = load_model(start.init_from, None, start.init_from)
        progress.stages = earlier_stages(start.init_from)
    vocab, streams = load_streams(
        sources, opt.heldout_sources, recipe, start.vocab, opt.cache_dir, opt.log
    )
    if model is None:
        model = new_model(recipe, len(vocab), streams, opt.threads, opt.log)
    eval_batch = streams.eval_batch(recipe.seed, opt.eval_sequences, 0.15)
    objective = make_objective(recipe, vocab, eval_batch, opt.device)
    model = objective.trained(model, start.state)
    prepare_work(start)
    model.to(opt.device).train()
    set_dropout(model, recipe.train_dropout)
    precision = training_precision(recipe, opt.device)
    opt.log(f"precision {precision} (recipe: {recipe.precision})")
    run = Run(
        start, sources, recipe, opt, vocab, streams, model,
        make_optimizer(model, recipe, start.state), precision, progress, objective,
        wall_mark=wall0,
    )  # fmt: skip
    if recipe.whole_word:
        run.segmenter = WordSegmenter(read_lexicon(opt.lexicon_files))
        run.chars = id_to_char(vocab)
    return run


def _checkpoint(run: Run, loss_avg: float, done: bool) -> None:
    """Score the held-out batch, save the state and rewrite the Hugging Face folder."""
    import torch

    progress, start, opt = run.progress, run.start, run.options
    key, name = measure(run.recipe)
    acc = run.objective.heldout(run.model)
    progress.history.append(
        {
            "step": progress.step,
            "minutes": round(progress.seconds / 60, 2),
            "tokens": progress.tokens,
            "loss": _number(loss_avg),
            key: _number(acc),
        }
    )
    progress.wall_seconds += time.time() - run.wall_mark
    run.wall_mark = time.time()
    state = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "recipe": dataclasses.asdict(run.recipe),
        "progress": dataclasses.asdict(progress),
        "init_from": str(start.init_from) if start.init_from else "",
        "vocab": list(run.vocab),
    }
    write_atomic(start.checkpoint, lambda tmp: torch.save(state, tmp))
    export(
        run.objective.encoder(run.model), run.vocab, start.output, run.recipe, progress,
        run.sources, start.init_from, done, opt.fp16_weights, start.work,
    )  # fmt: skip
    opt.log(
        f"step {progress.step:,}  {progress.seconds / 60:.1f} min  loss {loss_avg:.3f}  "
        f"{name} {acc:.3f}"
    )


def batch_key(seed: int, step: int, earlier_stages: int) -> list[int]:
    """The random key of a step's windows and masks. A continued stage draws other batches
    than the stage before it drew at the same step; a first stage keeps (seed, step), so the
    runs made before stages were keyed still reproduce."""
    return [seed, step] + ([earlier_stages] if earlier_stages else [])


def _step(run: Run, budget: float) -> tuple[float, int, float, float]:
    """One optimizer step: (loss, tokens, seconds, learning rate)."""
    import torch

    recipe, progress, device = run.recipe, run.progress, run.options.device
    t0 = time.perf_counter()
    length = window_length(recipe, progress.seconds, budget)
    rng = np.random.default_rng(batch_key(recipe.seed, progress.step, len(progress.stages)))
    ids = run.streams.windows(rng, max(1, recipe.batch_tokens // length), length)
    chosen = choose_masked(ids, rng, recipe.mask_prob, run.segmenter, run.chars)
    lr = learning_rate(recipe, progress.seconds, budget)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    with autocast_for(device, run.precision):
        loss = run.objective.loss(run.model, ids, chosen, rng)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), int(ids.size), time.perf_counter() - t0, lr


def _train(run: Run, budget: float) -> None:
    """Steps until the budget is spent, a checkpoint every `checkpoint_minutes`; a loss that is
    not finite stops the run with OUTPUT unchanged."""
    from tqdm import tqdm

    progress, opt = run.progress, run.options
    bar = tqdm(
        total=round(budget),
        initial=round(min(progress.seconds, budget)),
        unit="s",
        disable=not opt.progress_bar,
        dynamic_ncols=True,
        mininterval=1 if os.isatty(2) else 30,
    )
    last_ckpt, losses = progress.seconds, []
    while progress.seconds < budget:
        loss, tokens, spent, lr = _step(run, budget)
        losses.append(loss)
        if not math.isfinite(loss):
            bar.close()
            raise PretrainTextError(
                f"step {progress.step:,}: the loss is {loss}: training diverged (try a lower "
                f"--lr). {run.start.output} is unchanged; {run.start.work} holds the last "
                "checkpoint"
            )
        progress.seconds += spent
        progress.step += 1
        progress.tokens += tokens
        bar.update(round(min(progress.seconds, budget)) - bar.n)
        bar.set_postfix(
            loss=f"{np.mean(losses[-50:]):.3f}", tok_s=f"{tokens / spent:,.0f}", lr=f"{lr:.2e}"
        )
        if progress.seconds - last_ckpt >= opt.checkpoint_minutes * 60:
            _checkpoint(run, float(np.mean(losses[-200:])), False)
            last_ckpt = progress.seconds
    bar.close()
    _checkpoint(run, float(np.mean(losses[-200:])) if losses else float("nan"), True)


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
    import torch

    check_arguments(sources, minutes, recipe, checkpoint_minutes, threads, lexicon_files)
    if not resume:
        training_precision(recipe, device)  # int8 refused here, before any reading
    init_vocab = check_init_from(Path(init_from)) if init_from is not None and not resume else None
    opt = Options(
        lexicon_files, heldout_sources, cache_dir, checkpoint_minutes, fp16_weights,
        eval_sequences, threads or os.cpu_count() or 1, device, log, progress_bar,
    )  # fmt: skip
    output = Path(output)
    with output_lock(output):
        start = plan_start(output, resume, overwrite, checkpoint_dir)
        if start.state is None:
            start.vocab, start.init_from = init_vocab, Path(init_from) if init_from else None
        check_extras(_resumed(start)[0] if start.state is not None else recipe, start)
        torch.set_num_threads(opt.threads)
        run = _prepare(start, sources, minutes, recipe, opt)
        if run.progress.step == 0:
            _checkpoint(run, float("nan"), False)
        _train(run, minutes * 60.0)
        replace_folder(start.work, output)
        return run.progress
