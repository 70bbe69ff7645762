"""Where a pretraining run writes, and what it refuses before it reads any text.

Nothing is written into an existing folder unless asked:
- A run works in OUTPUT.partial/: the Hugging Face folder of its latest checkpoint (so an
  interrupted run still leaves an encoder) and checkpoint/state.pt (unless --checkpoint-dir).
  It replaces OUTPUT only when it ends, in one step (an atomic exchange of the two folders where
  the OS has one), and never with a model whose loss went NaN.
- A new run refuses an OUTPUT that exists (`--overwrite` replaces it at the end: the old folder
  stays until then) and an OUTPUT.partial left by an interrupted run (`--resume` continues it,
  `--overwrite` starts over).
- `--resume` continues OUTPUT.partial, or a finished OUTPUT (copied to OUTPUT.partial first).
- OUTPUT.lock is held for the run: a second run on OUTPUT is refused (zh_medner/locking.py).

Every argument is checked first (the architecture, the time budget, the text weights, the
recipe's numbers, the --init-from folder, the checkpoint and vocabulary of a resume), so a bad
one costs no time reading text and leaves nothing behind. Refusals are PretrainTextError.
"""

import ctypes
import importlib.util
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..io import PathError, check_output
from ..locking import lock_path
from .check import check_encoder
from .text import PretrainTextError

CHECKPOINT = "checkpoint/state.pt"
ARCHITECTURES = ("bert", "megatron-bert", "roformer", "modernbert")
PRECISIONS = ("fp32", "bf16", "auto")
STATE_KEYS = ("model", "optimizer", "recipe", "progress")


def work_folder(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def _number(name, value, low: float, high: float = math.inf, low_ok=True, integer=False) -> None:
    kind = int if integer else int | float
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (value == low and not low_ok) or value > high:
        bound = f"{'at least' if low_ok else 'over'} {low:g}"
        bound += f" and at most {high:g}" if high < math.inf else ""
        what = "a whole number" if integer else "a number"
        raise PretrainTextError(f"{name} must be {what} {bound}, got {value!r}")


def check_recipe(recipe) -> None:
    """The recipe's values, each against the range that trains."""
    if recipe.arch not in ARCHITECTURES:
        raise PretrainTextError(
            f"unknown --arch {recipe.arch!r}: choose {', '.join(ARCHITECTURES)}"
        )
    if recipe.precision not in PRECISIONS:
        raise PretrainTextError(
            f"--precision {recipe.precision!r} cannot train: use fp32, bf16 or auto"
        )
    for name in ("layers", "hidden", "heads", "intermediate"):
        _number(f"--{name}", getattr(recipe, name), 1, integer=True)
    if recipe.hidden % recipe.heads:
        raise PretrainTextError(f"--hidden {recipe.hidden} must be a multiple of --heads")
    _number("--seq-len", recipe.seq_len, 3, 512, integer=True)
    _number("--long-seq-len", recipe.long_seq_len, recipe.seq_len, 512, integer=True)
    _number("--long-fraction", recipe.long_fraction, 0, 1)
    _number("--batch-tokens", recipe.batch_tokens, 1, integer=True)
    _number("--lr", recipe.lr, 0, 1, low_ok=False)
    _number("warmup_fraction", recipe.warmup_fraction, 0, 1)
    _number("weight_decay", recipe.weight_decay, 0)
    _number("--mask-prob", recipe.mask_prob, 0, 1, low_ok=False)
    _number("--min-char-count", recipe.min_char_count, 1, integer=True)
    _number("--heldout-percent", recipe.heldout_percent, 0, 100)
    if recipe.train_dropout is not None:
        _number("--train-dropout", recipe.train_dropout, 0, 1)
    _check_objective(recipe)


def _check_objective(recipe) -> None:
    """mlm, or rtd with a generator folder (its vocabulary is checked against the run's later)."""
    if recipe.objective not in ("mlm", "rtd"):
        raise PretrainTextError(
            f"--objective {recipe.objective!r}: choose mlm (masked characters) or rtd "
            "(replaced-token detection)"
        )
    if recipe.objective == "rtd" and not (Path(recipe.generator) / "vocab.txt").is_file():
        raise PretrainTextError(
            f"--generator {recipe.generator!r}: the rtd objective needs a masked-LM folder with "
            "its vocab.txt to propose replacements (for example the --init-from folder)"
        )


def check_arguments(sources, minutes, recipe, checkpoint_minutes, threads, lexicon=()) -> None:
    """Everything but the folders: refused before anything is read or written."""
    for path in lexicon:
        if not Path(path).is_file():
            raise PretrainTextError(f"--lexicon {path}: no such file")
    _number("--minutes", minutes, 0, low_ok=False)
    _number("--checkpoint-minutes", checkpoint_minutes, 0, low_ok=False)
    _number("--threads", threads, 0, integer=True)
    check_recipe(recipe)
    for source in sources:
        if not (math.isfinite(source.weight) and source.weight > 0):
            raise PretrainTextError(
                f"--text {source.path}:{source.weight:g}: the weight must be a positive number "
                "(PATH:WEIGHT, e.g. notes.txt:3)"
            )
        source.files()  # a missing path or a folder without text, before any reading


EXTRA = 'pip install -e ".[pretrain]"'


def check_extras(recipe, start: "Start") -> None:
    """The optional packages the run will use: jieba for whole-word masking, gensim for the
    word2vec embeddings of a new model (the `pretrain` extra of pyproject.toml)."""
    needed = []
    if recipe.whole_word and importlib.util.find_spec("jieba") is None:
        needed.append("jieba (whole-word masking; --no-whole-word masks single characters)")
    fresh = start.state is None and start.init_from is None
    if recipe.word2vec and fresh and importlib.util.find_spec("gensim") is None:
        needed.append("gensim (word2vec input embeddings; --no-word2vec starts them at random)")
    if needed:
        raise PretrainTextError(
            f"this recipe needs {' and '.join(needed)}: install the pretraining extra with "
            f"`{EXTRA}`"
        )


def check_init_from(init_from: Path) -> list[str]:
    """The vocabulary of a model folder to continue pretraining, after checking the folder."""
    try:
        check_encoder(str(init_from))
    except ValueError as e:
        raise PretrainTextError(f"--init-from: {e}") from None
    if not Path(init_from).is_dir():
        raise PretrainTextError(f"--init-from {init_from}: not a local folder")
    return read_vocab(Path(init_from), "--init-from needs the vocabulary of the model")


def read_vocab(folder: Path, why: str) -> list[str]:
    path = folder / "vocab.txt"
    try:
        vocab = path.read_text(encoding="utf8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        detail = getattr(e, "strerror", None) or str(e)
        raise PretrainTextError(f"{path}: cannot be read ({detail}): {why}") from None
    if not vocab:
        raise PretrainTextError(f"{path}: is empty: {why}")
    return vocab


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's state, checked: a damaged file is refused with what to do."""
    import torch

    fix = "restore it, or start over with --overwrite"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise PretrainTextError(f"{path}: not a readable checkpoint ({first}): {fix}") from None
    if not isinstance(state, dict) or any(k not in state for k in STATE_KEYS):
        raise PretrainTextError(f"{path}: not a pretraining checkpoint (keys missing): {fix}")
    if not isinstance(state["recipe"], dict) or not isinstance(state["progress"], dict):
        raise PretrainTextError(f"{path}: not a pretraining checkpoint (no recipe): {fix}")
    return state


@dataclass
class Start:
    """Where a run writes and what it continues from, decided before any text is read."""

    output: Path
    work: Path  # OUTPUT.partial
    checkpoint: Path
    state: dict | None = None  # the checkpoint a resume continues
    vocab: list[str] | None = None
    init_from: Path | None = None
    copy_from: Path | None = None  # a finished OUTPUT, copied to `work` before training
    resumed_from: Path | None = None  # the checkpoint file a resume read
    clear_work: bool = False  # an interrupted run's OUTPUT.partial, replaced (--overwrite)


def _check_folder(path: Path, what: str) -> None:
    if path.exists() and not path.is_dir():
        raise PretrainTextError(f"{path}: is a file; {what} is a folder")
    try:  # the lock, OUTPUT.partial and the final rename all live in OUTPUT's parent folder
        check_output(lock_path(path))
    except PathError as e:
        raise PretrainTextError(str(e)) from None


def plan_start(output: Path, resume: bool, overwrite: bool, checkpoint_dir: Path | None) -> Start:
    """Check OUTPUT, OUTPUT.partial and, for a resume, its checkpoint and vocabulary."""
    output, work = Path(output), work_folder(Path(output))
    if resume and overwrite:
        raise PretrainTextError("--resume continues a run and --overwrite starts over: pick one")
    _check_folder(output, "OUTPUT")
    _check_folder(work, "a run's working folder")
    ckpt_in = (lambda folder: checkpoint_dir / "state.pt") if checkpoint_dir else None
    ckpt_in = ckpt_in or (lambda folder: folder / CHECKPOINT)
    start = Start(output, work, ckpt_in(work))
    if not resume:
        if output.exists() and any(output.iterdir()) and not overwrite:
            raise PretrainTextError(
                f"{output} exists: --resume continues its run, --overwrite replaces it when the "
                "new run ends (it stays as it is until then), or give a new OUTPUT"
            )
        if work.exists() and not overwrite:
            raise PretrainTextError(
                f"{work} holds an interrupted run: --resume continues it, --overwrite starts over"
            )
        if checkpoint_dir and (Path(checkpoint_dir) / "state.pt").exists() and not overwrite:
            raise PretrainTextError(
                f"{checkpoint_dir}/state.pt holds another run's checkpoint: --resume continues "
                "it, --overwrite replaces it, or give another --checkpoint-dir"
            )
        start.clear_work = work.exists()
        return start
    source = work if work.exists() else output
    if not source.exists():
        raise PretrainTextError(f"nothing to resume: neither {work} nor {output} exists")
    checkpoint = ckpt_in(source)
    if not checkpoint.is_file():
        raise PretrainTextError(f"nothing to resume: {checkpoint} does not exist")
    start.state, start.resumed_from = load_checkpoint(checkpoint), checkpoint
    vocab = start.state.get("vocab")
    start.vocab = vocab or read_vocab(source, "a resumed run needs the vocabulary it started with")
    start.init_from = Path(start.state["init_from"]) if start.state.get("init_from") else None
    start.copy_from = None if source == work else output
    return start


def prepare_work(start: Start) -> None:
    """Make OUTPUT.partial: cleared for a fresh run, or a copy of the finished OUTPUT."""
    if start.clear_work:
        shutil.rmtree(start.work)
    if start.copy_from is not None:
        shutil.copytree(start.copy_from, start.work)
    start.work.mkdir(parents=True, exist_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_folder(src: Path, dst: Path) -> None:
    """Put folder `src` at `dst`; an existing `dst` is swapped out in one step, then removed."""
    if not os.path.lexists(dst):
        os.rename(src, dst)
        return
    old = dst.with_name(f".{dst.name}.replaced-{os.getpid()}")
    if _exchange(src, dst):
        os.rename(src, old)  # src now holds the old OUTPUT
    else:  # two renames: dst is missing for a moment, and is put back if the second fails
        os.rename(dst, old)
        try:
            os.rename(src, dst)
        except OSError:
            os.rename(old, dst)
            raise
    shutil.rmtree(old)
