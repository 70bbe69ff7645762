"""The pretraining recipe: the model's shape, the masking and the optimisation, as one dataclass
that a JSON file states (the Hugging Face `run_mlm.py` way), and its schedules.

`read_recipe(path)` reads `configs/pretrain_*.json` (the recipe's fields; every field left out
keeps the dataclass default) or an encoder's `pretraining.json` (its "recipe"), so a finished
run's own record reproduces it. `scripts/pretrain_encoder.py --recipe FILE` takes it, and any
option given on the command line overrides the file. The shipped encoder was made in two stages:
`configs/pretrain_medchar_roformer.json` from scratch, then
`configs/pretrain_medchar_roformer_continue.json` with --init-from (a test checks both against the
record in `encoders/medchar-roformer-4x256/pretraining.json`, whose progress keeps the earlier
stage).

A checkpoint holds `dataclasses.asdict(recipe)`: a field added here needs a default, and no
field may be renamed, or `--resume` cannot continue older checkpoints.
"""

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..io import read_text
from ..jsonl import JSON_ERRORS, decode_error
from .text import PretrainTextError


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
    whole_word: bool = True  # jieba + a medical lexicon; False: single characters
    word2vec: bool = True  # word2vec-initialised input embeddings (a new model only)
    min_char_count: int = 3
    heldout_percent: float = 1.0
    seed: int = 0
    precision: str = "auto"  # fp32 | bf16 | auto (bf16 autocast where the CPU supports it)
    train_dropout: float | None = None  # dropout while pretraining; None keeps the model's
    # mlm: masked-character prediction; rtd: replaced-token detection (rtd.py), the masked
    # positions filled by `generator`, a frozen masked-LM folder with the run's vocabulary
    objective: str = "mlm"
    generator: str = ""


@dataclass
class Progress:
    step: int = 0
    seconds: float = 0.0  # time in training steps: what the schedule runs on
    wall_seconds: float = 0.0  # everything: data, evaluation, checkpoints
    tokens: int = 0
    history: list[dict] = field(default_factory=list)
    # The runs this one continues (--init-from), oldest first: each a summary from its folder's
    # pretraining.json (stage_summary), so that a card counts every token the weights have seen.
    stages: list[dict] = field(default_factory=list)


def stage_summary(record: dict, folder: str) -> dict:
    """One finished run, from the pretraining.json it left in FOLDER."""
    progress, history = record["progress"], record["progress"].get("history") or [{}]
    return {
        "folder": folder,
        "recipe": record["recipe"],
        "steps": progress["step"],
        "tokens": progress["tokens"],
        "minutes": round(progress["seconds"] / 60, 1),
        "wall_minutes": round(progress["wall_seconds"] / 60, 1),
        "heldout_top1": history[-1].get("heldout_top1"),
    }


def earlier_stages(init_from: Path) -> list[dict]:
    """The stages behind an --init-from folder: its own earlier stages, then itself (nothing
    where the folder has no pretraining.json: a model from elsewhere)."""
    path = Path(init_from) / "pretraining.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text(encoding="utf8"))
    return record["progress"].get("stages", []) + [stage_summary(record, str(init_from))]


FIELDS = tuple(f.name for f in dataclasses.fields(Recipe))


def recipe_from(values: dict, where: str) -> Recipe:
    """A Recipe from a JSON object; an unknown key is refused, naming `where`."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise PretrainTextError(
            f"{where}: unknown recipe field(s) {unknown}; the fields are {', '.join(FIELDS)}"
        )
    return Recipe(**values)


def read_recipe(path: Path) -> Recipe:
    """The recipe a JSON file states: its fields, or the "recipe" of an encoder's
    pretraining.json. Its values are checked with the run's other arguments
    (pretrain_setup.check_recipe)."""
    text = read_text(path)
    try:
        value = json.loads(text)
    except JSON_ERRORS as e:
        raise PretrainTextError(f"{path}: {decode_error(e, with_line=True)}") from None
    if isinstance(value, dict) and isinstance(value.get("recipe"), dict):
        value = value["recipe"]  # a finished run's record
    if not isinstance(value, dict):
        raise PretrainTextError(f"{path}: a recipe is a JSON object of recipe fields")
    return recipe_from(value, str(path))


def with_overrides(recipe: Recipe, **overrides) -> Recipe:
    """The recipe with every override that is not None."""
    return dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def learning_rate(recipe: Recipe, seconds: float, budget: float) -> float:
    """Linear warm-up, then linear decay to 0 at the end of the time budget."""
    warmup = max(1e-9, recipe.warmup_fraction * budget)
    if seconds < warmup:
        return recipe.lr * seconds / warmup
    return recipe.lr * max(0.0, (budget - seconds) / max(1e-9, budget - warmup))


def window_length(recipe: Recipe, seconds: float, budget: float) -> int:
    """Short windows for most of the budget, long ones for the last `long_fraction`."""
    late = seconds >= (1.0 - recipe.long_fraction) * budget
    return recipe.long_seq_len if late else recipe.seq_len
