"""The learning curve: each recipe trained on nested, seeded subsets of a labelled corpus.

`prepare` splits the corpus once, by a seed: a small tune set (spaCy's training loop needs an
evaluation set; nothing is selected on it), the pool the subsets come from, a fixed dev subset
for scoring, and the text of every pool record outside the largest subset, labels thrown away:
the unlabeled notes a hospital would have, for domain-adaptive pretraining and self-training.
"""

from functools import partial
from pathlib import Path

import spacy
from spacy.tokens import DocBin

from ..io import write_text_atomic
from .augment import augment, merge_names, read_names, training_names
from .experiments import Plan, Results, run_once, score, train, write_docs
from .selection import nested_subsets
from .selftrain import pseudo_label

TUNE_RECORDS = 50


def read_docs(path: Path) -> list:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("zh").vocab))


def split_pool(docs: list, seed: int) -> tuple[list, list]:
    """(tune, pool): the tune set is TUNE_RECORDS seeded records, the pool the rest in order."""
    tune_idx = set(nested_subsets(len(docs), [TUNE_RECORDS], seed + 1)[TUNE_RECORDS])
    tune = [d for i, d in enumerate(docs) if i in tune_idx]
    pool = [d for i, d in enumerate(docs) if i not in tune_idx]
    return tune, pool


def prepare(plan: Plan, train_path: Path, dev_path: Path, out: Path, sizes, seed: int) -> dict:
    docs = read_docs(train_path)
    tune, pool = split_pool(docs, seed)
    subsets = nested_subsets(len(pool), sizes, seed)
    largest = set(subsets[max(sizes)])
    unlabeled = [d.text for i, d in enumerate(pool) if i not in largest]
    write_docs(out / "tune.spacy", tune)
    write_docs(out / "dev.spacy", read_docs(dev_path)[: plan.dev_limit or None])
    write_text_atomic(
        out / "unlabeled.txt", "".join(t.replace("\n", " ") + "\n" for t in unlabeled)
    )
    return {"pool": len(pool), "tune": len(tune), "unlabeled": len(unlabeled)}


def subset_docs(pool: list, indices, recipe, names_dir: Path | None, seed: int) -> list:
    """The labelled records of a run, plus their entity-swapped copies for `augment` recipes."""
    docs = [pool[i] for i in indices]
    if not recipe.augment:
        return docs
    names = merge_names(read_names(names_dir), training_names(docs))
    return docs + augment(docs, names, copies=1, p=0.5, seed=seed)


def teacher_docs(plan: Plan, recipe, out: Path, size: int, seed: int) -> tuple[list, dict]:
    """Self-training: unlabeled texts labelled by the teacher recipe's run on the same records."""
    if not recipe.teacher:
        return [], {}
    model = out / "runs" / f"{recipe.teacher}-{size}-seed{seed}" / "model" / "model-last"
    if not model.exists():
        raise ValueError(
            f"recipe {recipe.name!r} learns from {recipe.teacher!r}, which has no run at {size} "
            f"records, seed {seed} ({model}): put it first, --recipes {recipe.teacher},{recipe.name}"
        )
    lines = (out / "unlabeled.txt").read_text(encoding="utf8").splitlines()
    texts = [t for t in lines if t.strip()][: recipe.pseudo_texts]
    return pseudo_label(model, texts, recipe.pseudo_keep, plan.threads)


def run_subset(plan: Plan, recipe, pool, indices, out: Path, run_dir: Path, names_dir, seed):
    """Train on the subset (and its copies, or the teacher's texts) and score: one row."""
    size = len(indices)
    docs = subset_docs(pool, indices, recipe, names_dir, seed)
    pseudo, report = teacher_docs(plan, recipe, out, size, seed)
    train_file = write_docs(run_dir / "train.spacy", docs + pseudo)
    # the budget of the records trained on: a student with 1,500 more texts gets their steps
    steps_size = size + len(pseudo)
    info = train(plan, recipe, train_file, out / "tune.spacy", run_dir / "model", steps_size, seed)
    scores = score(run_dir / "model" / "model-last", out / "dev.spacy", plan.threads)
    row = {"recipe": recipe.name, "size": size, "seed": seed, "records": len(docs) + len(pseudo)}
    return row | report | info | scores


def learning_curve(
    plan: Plan, train_path: Path, out: Path, sizes, recipe_names, seed: int, names_dir, log=print
) -> list[dict]:
    """Train and score every (recipe, size); rows already in out/results.jsonl are kept."""
    _, pool = split_pool(read_docs(train_path), seed)
    subsets = nested_subsets(len(pool), sizes, seed)
    results = Results(out / "results.jsonl")
    rows = []
    for name in recipe_names:
        recipe = plan.recipe(name)
        for size in sizes:
            run_dir = out / "runs" / f"{name}-{size}-seed{seed}"
            work = partial(
                run_subset, plan, recipe, pool, subsets[size], out, run_dir, names_dir, seed
            )
            rows.append(run_once(results, f"{name}/{size}/seed{seed}", work, log))
    return rows


def compare_recipes(
    plan: Plan, train_path: Path, out: Path, recipe_names, seed: int, names_dir, log=print
):
    """Each recipe on the whole training file at the plan's budget, scored on out/dev.spacy
    (held-out training records): one lever at a time, for the results table."""
    docs = read_docs(train_path)
    results = Results(out / "results.jsonl")
    rows = []
    for name in recipe_names:
        recipe = plan.recipe(name)
        run_dir = out / "runs" / f"{name}-seed{seed}"
        work = partial(
            run_subset, plan, recipe, docs, range(len(docs)), out, run_dir, names_dir, seed
        )
        rows.append(run_once(results, f"{name}/seed{seed}", work, log))
    return rows
