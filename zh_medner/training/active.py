"""Active-learning simulation: which texts to label next, measured in labels saved.

Per seed: a pool of records from the training corpus (its labels hidden until a record is
picked) and a random start. Each round trains on the labelled records with the plan's budget
for that size, scores the fixed dev subset, and picks the next batch from the rest of the
pool by a strategy (zh_medner/training/selection.py). Every strategy starts from the same
first round. A round's row records the records it trained on, so a stopped simulation
resumes at the round it had reached.
"""

import random
from functools import partial
from pathlib import Path

from .curve import read_docs, run_subset, split_pool
from .experiments import Plan, Recipe, Results, run_once
from .selection import doc_uncertainties, rank


def pick(strategy: str, model: Path, pool: list, labelled: list[int], n: int, seed: int, threads):
    """The next `n` pool positions `strategy` would label, by the model trained so far."""
    rest = [i for i in range(len(pool)) if i not in set(labelled)]
    if strategy == "random":
        return [rest[j] for j in rank("random", [{}] * len(rest), seed)[:n]]
    import spacy
    import torch

    torch.set_num_threads(threads)
    nlp = spacy.load(model)
    head = nlp.get_pipe("span_head")
    texts = [pool[i].text for i in rest]
    scores = []
    batch = 64
    for start in range(0, len(texts), batch):
        docs = list(nlp.pipe(texts[start : start + batch], disable=["span_head"]))
        scores.extend(doc_uncertainties(head, docs))
    return [rest[j] for j in rank(strategy, scores)[:n]]


def simulate(
    plan: Plan,
    train_path: Path,
    out: Path,
    strategies,
    seeds,
    start: int = 100,
    batch: int = 100,
    rounds: int = 4,
    pool_size: int = 3000,
    log=print,
) -> list[dict]:
    _, corpus = split_pool(read_docs(train_path), 0)  # the learning curve's tune set stays out
    results = Results(out / "active.jsonl")
    recipe = Recipe(name="plain")
    rows = []
    for seed in seeds:
        pool = random.Random(seed).sample(corpus, min(pool_size, len(corpus)))
        first = list(range(start))  # the pool is a seeded sample: its head is a random start
        for strategy in strategies:
            labelled = first
            for r in range(rounds + 1):
                name = "start" if r == 0 else strategy
                key = f"{name}/{len(labelled)}/seed{seed}"
                run_dir = out / "active" / f"{name}-{len(labelled)}-seed{seed}"
                work = partial(_round, plan, recipe, pool, labelled, out, run_dir, seed)
                rows.append(run_once(results, key, work, log) | {"strategy": strategy})
                if r == rounds:
                    break
                reached = results.get(f"{strategy}/{len(labelled) + batch}/seed{seed}")
                if reached is not None:  # resuming: that round's records are on record
                    labelled = reached["labelled"]
                    continue
                model = run_dir / "model" / "model-last"
                picked = pick(strategy, model, pool, labelled, batch, seed + r, plan.threads)
                labelled = labelled + picked
    return rows


def _round(plan, recipe, pool, labelled, out, run_dir, seed) -> dict:
    row = run_subset(plan, recipe, pool, labelled, out, run_dir, None, seed)
    return row | {"labelled": list(labelled)}


def labels_random_needs(random_curve: list[tuple], f1: float) -> float | None:
    """Labels at which the random curve reaches `f1` (linear between its points), or None
    beyond its last point."""
    points = sorted((x, f) for x, f, *_ in random_curve)
    if points and f1 <= points[0][1]:
        return float(points[0][0])
    for (x0, f0), (x1, f1_) in zip(points, points[1:]):
        if f0 <= f1 <= f1_ and f1_ > f0:
            return x0 + (x1 - x0) * (f1 - f0) / (f1_ - f0)
    return None
