"""Training runs for the learning-curve and active-learning simulations, and their records.

A run trains `configs/ner_trf.cfg` with `spacy train` in a subprocess (its own torch threads,
the project's CPU settings) for a fixed number of steps, keeps model-last (no model selection
on any evaluation set), and scores it on a fixed dev subset with the official CMeEE metric.
Each finished run is one line of a results JSONL; a run already there is not run again, so a
long simulation resumes where it stopped.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import srsly
from spacy.tokens import DocBin

from ..io import write_atomic, write_text_atomic


@dataclass
class Recipe:
    """One way to train: the encoder, augmented copies, self-training, `spacy train` overrides.

    `teacher`: the recipe whose model, trained on the same records, labels the first
    `pseudo_texts` unlabeled texts; the `pseudo_keep` share it is surest of joins the
    labelled records (selftrain.py)."""

    name: str
    encoder: str = "encoders/medchar-roformer-4x256"
    config: str = "configs/ner_trf.cfg"
    augment: bool = False
    overrides: dict[str, str] = field(default_factory=dict)
    teacher: str | None = None
    pseudo_texts: int = 0
    pseudo_keep: float = 0.5


@dataclass
class Plan:
    """The fixed parts of a simulation, read from a JSON file (configs/learning_curve.json)."""

    steps: dict[str, int]  # training steps for each number of records ("100": 400)
    learn_rate: float = 5e-4
    warmup_fraction: float = 0.1
    dev_limit: int = 1000
    threads: int = 2
    recipes: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> "Plan":
        return cls(**json.loads(Path(path).read_text(encoding="utf8")))

    def recipe(self, name: str) -> Recipe:
        if name not in self.recipes:
            raise ValueError(f"unknown recipe {name!r}: the plan has {', '.join(self.recipes)}")
        return Recipe(name=name, **self.recipes[name])

    def steps_for(self, size: int) -> int:
        """The budget of the nearest size at or above `size` (the largest beyond them)."""
        table = sorted((int(k), v) for k, v in self.steps.items())
        return next((v for k, v in table if k >= size), table[-1][1])


def write_docs(path: Path, docs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: DocBin(docs=docs, store_user_data=True).to_disk(tmp))
    return path


def train(
    plan: Plan,
    recipe: Recipe,
    train_path: Path,
    tune_path: Path,
    output: Path,
    size: int,
    seed: int,
) -> dict:
    """`spacy train` for the plan's budget at this size; model-last is the model."""
    steps = plan.steps_for(size)
    args = {
        "paths.train": train_path,
        "paths.dev": tune_path,
        "paths.encoder": recipe.encoder,
        "system.seed": seed,
        "training.max_steps": steps,
        "training.eval_frequency": steps,  # evaluated once, at the end; nothing is selected
        "training.patience": 0,
        "training.optimizer.learn_rate.initial_rate": plan.learn_rate,
        "training.optimizer.learn_rate.warmup_steps": max(1, int(plan.warmup_fraction * steps)),
        **recipe.overrides,
    }
    command = [sys.executable, "-m", "spacy", "train", recipe.config, "--output", str(output)]
    for key, value in args.items():
        command += [f"--{key}", str(value)]
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="0", TOKENIZERS_PARALLELISM="false")
    env["OMP_NUM_THREADS"] = str(plan.threads)
    start = time.time()
    log = output.with_suffix(".log")
    output.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf8") as fh:
        subprocess.run(command, check=True, stdout=fh, stderr=subprocess.STDOUT, env=env)
    # a recipe's overrides may set its own budget (plain_1200): the row reports what ran
    ran = int(args["training.max_steps"])
    return {"steps": ran, "train_seconds": round(time.time() - start, 1)}


def score(model: Path, dev_path: Path, threads: int) -> dict:
    """Official and flat F1, per type, of a trained model on the dev subset (a subprocess)."""
    out = model.parent / f"{model.parent.name}.scores.json"
    command = [sys.executable, "scripts/evaluate.py", str(model), str(dev_path), str(out)]
    command.append(str(out.with_suffix(".md")))
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads))
    subprocess.run(command, check=True, capture_output=True, env=env)
    scores = srsly.read_json(out)
    return {
        "official_f": scores["official"]["f"],
        "flat_f": scores["flat"]["f"],
        "per_type": {k: v["f"] for k, v in scores["official"]["per_type"].items()},
    }


class Results:
    """A JSONL of finished runs, keyed by their `key` field."""

    def __init__(self, path: Path):
        self.path = Path(path)
        lines = self.path.read_text(encoding="utf8").splitlines() if self.path.exists() else []
        self.rows = [json.loads(line) for line in lines if line.strip()]

    def get(self, key: str) -> dict | None:
        return next((row for row in self.rows if row["key"] == key), None)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows)
        write_text_atomic(self.path, text)


def run_once(results: Results, key: str, work: Callable[[], dict], log=print) -> dict:
    """The row for `key`: from the results file, or by running `work` and recording it."""
    done = results.get(key)
    if done is not None:
        log(f"{key}: done before (official F1 {done['official_f']:.3f})")
        return done
    row = {"key": key, **work()}
    results.add(row)
    log(f"{key}: official F1 {row['official_f']:.3f} ({row.get('train_seconds', 0):.0f} s)")
    return row


def describe(recipe: Recipe) -> dict:
    return asdict(recipe)
