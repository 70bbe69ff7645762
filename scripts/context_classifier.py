"""Train the learned context option (`zh_context_learned`, issue 19) and measure it.

Each gold finding of CMDD (the patient's mentions; a dialogue's previous line is context) and
CHIP-CDEE is read in its window (zh_medner/components/context_learned.py) by the project's
pretrained character encoder (frozen), with the rules' own verdicts (negated, uncertain,
hypothetical). A linear softmax over affirmed / negated / uncertain is trained on the
development 80% of both corpora (its epochs chosen on a tenth of that, by dialogue or text),
and written where `zh_context_learned` reads it (`--model`).

Printed, per corpus and attribute: the rules against the classifier, cross-validated on the
development part (`--folds`: the evidence for which attributes the component decides), then
on the held-out 20%, scored once. The component itself is scored like the rules with
`scripts/evaluate_context.py --learned MODEL`.

    python scripts/context_classifier.py [--model training/context_classifier]
"""

import random
from pathlib import Path

import srsly
import torch
import typer

from zh_medner.components.context_learned import (
    CLASSES,
    RULE_FEATURES,
    WindowEncoder,
    window,
    write_classifier,
)
from zh_medner.evaluation.context import gold_doc
from zh_medner.evaluation.context_corpora import CONVENTIONS, read_chip_cdee, read_cmdd
from zh_medner.evaluation.gold import rules_pipeline, run_rules


def examples(nlp, records: list[dict], corpus: str, left: int, right: int) -> list[dict]:
    """One example per gold finding: its window, where it sits there, gold and rule verdicts."""
    out = []
    for record in records:
        doc = run_rules(nlp, gold_doc(nlp, record, record["id"]))
        gold = {(e["start"], e["end"]): e["status"] for e in record["entities"]}
        for ent in doc.ents:
            a, b = ent.start_char, ent.end_char
            lo, hi = window(record["text"], a, b, left, right)
            rules = [float(bool(ent._.get(r))) for r in RULE_FEATURES]
            out.append(
                {
                    "group": f"{corpus}:{record['id']}",
                    "corpus": corpus,
                    "item": (record["text"][lo:hi], a - lo, b - lo),
                    "gold": CLASSES.index(gold[(a, b)]),
                    "rules": rules,
                    "rule_class": 2 if rules[1] else 1 if rules[0] else 0,
                }
            )
    return out


def train(x: torch.Tensor, y: torch.Tensor, val: torch.Tensor, epochs: int, seed: int) -> dict:
    """A linear softmax; the epoch with the best macro F1 of negated and uncertain on `val`.
    Returns {weight, bias, mean, std} (inputs are standardised with the training rows')."""
    torch.manual_seed(seed)
    mean, std = x[~val].mean(0), x[~val].std(0) + 1e-6
    layer = torch.nn.Linear(x.shape[1], len(CLASSES))
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-4)
    best, state = -1.0, None
    xs, rows = (x - mean) / std, torch.nonzero(~val).squeeze(1)
    for _ in range(epochs):
        for idx in torch.randperm(len(rows)).split(128):
            loss = torch.nn.functional.cross_entropy(layer(xs[rows[idx]]), y[rows[idx]])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            pred = layer(xs[val]).argmax(1)
        score = sum(f1(pred, y[val], c) for c in (1, 2)) / 2
        if score > best:
            best, state = score, {k: v.detach().clone() for k, v in layer.state_dict().items()}
    return {**state, "mean": mean, "std": std}


def predict(head: dict, x: torch.Tensor) -> torch.Tensor:
    return (((x - head["mean"]) / head["std"]) @ head["weight"].T + head["bias"]).argmax(1)


def fit(items: list[dict], x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> dict:
    """`train` with a tenth of the items' groups (dialogues, texts) held back to pick epochs."""
    groups = sorted({i["group"] for i in items})
    random.Random(seed).shuffle(groups)
    val_groups = set(groups[: len(groups) // 10])
    val = torch.tensor([i["group"] in val_groups for i in items])
    return train(x, y, val, epochs, seed)


def cross_validate(items, x, y, folds: int, epochs: int, seed: int) -> torch.Tensor:
    """Each item's class as predicted by a classifier fitted without its group's fold."""
    groups = sorted({i["group"] for i in items})
    random.Random(seed + 1).shuffle(groups)
    fold_of = {g: k % folds for k, g in enumerate(groups)}
    fold = torch.tensor([fold_of[i["group"]] for i in items])
    pred = torch.zeros_like(y)
    for k in range(folds):
        rows = torch.nonzero(fold != k).squeeze(1)
        head = fit([items[i] for i in rows.tolist()], x[rows], y[rows], epochs, seed)
        with torch.no_grad():
            pred[fold == k] = predict(head, x[fold == k])
    return pred


def f1(pred: torch.Tensor, gold: torch.Tensor, c: int) -> float:
    tp = int(((pred == c) & (gold == c)).sum())
    fp, fn = int(((pred == c) & (gold != c)).sum()), int(((pred != c) & (gold == c)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def compare(items: list[dict], y: torch.Tensor, learned: torch.Tensor, part: str) -> dict:
    result = {}
    for corpus in ("cmdd", "chip-cdee"):
        rows = torch.tensor([i["corpus"] == corpus for i in items])
        rule_pred = torch.tensor([i["rule_class"] for i in items])[rows]
        for name, pred in (("rules", rule_pred), ("learned", learned[rows])):
            scores = {CLASSES[c]: round(f1(pred, y[rows], c), 4) for c in (1, 2)}
            result[f"{corpus}:{part}:{name}"] = scores
            print(f"{corpus:9s} {part:8s}  {name:7s}  negated F1 {scores['negated']:.3f}  "
                  f"uncertain F1 {scores['uncertain']:.3f}")  # fmt: skip
    return result


def main(
    data: Path = typer.Option(Path("../shared/data/context"), help="CMDD and CHIP-CDEE train"),
    encoder: Path = typer.Option(Path("encoders/medchar-roformer-4x256")),
    config: Path = typer.Option(Path("configs/assemble.cfg")),
    rules: Path = typer.Option(Path("zh_medner/resources/context_rules_zh.json")),
    model: Path = typer.Option(Path("training/context_classifier"), help="folder to write"),
    left: int = 96,
    right: int = 32,
    epochs: int = 30,
    folds: int = typer.Option(5, help="cross-validation folds on the development part; 0: none"),
    seed: int = 19,
    output: Path = typer.Option(Path("metrics/context_classifier.json")),
):
    torch.set_num_threads(1)
    base = {"paths.context_rules": str(rules)}
    speech = rules_pipeline(config, {**base, **CONVENTIONS["cmdd"]}, exclude=["entity_ruler"])
    chart = rules_pipeline(config, base, exclude=["entity_ruler"])
    windows = WindowEncoder(encoder)
    parts, x, y = {}, {}, {}
    for part in ("dev", "heldout"):
        cmdd = read_cmdd(data / "cmdd_train", part=part)[0]
        cdee = read_chip_cdee(data / "chip_cdee" / "CHIP-CDEE_train.json", part=part)[0]
        items = examples(speech, cmdd, "cmdd", left, right)
        items += examples(chart, cdee, "chip-cdee", left, right)
        rule_x = torch.tensor([i["rules"] for i in items])
        parts[part], x[part] = items, torch.cat([windows([i["item"] for i in items]), rule_x], 1)
        y[part] = torch.tensor([i["gold"] for i in items])
    result = {"left": left, "right": right, "epochs": epochs, "folds": folds}
    if folds:
        cv = cross_validate(parts["dev"], x["dev"], y["dev"], folds, epochs, seed)
        result.update(compare(parts["dev"], y["dev"], cv, f"dev-cv{folds}"))
    head = fit(parts["dev"], x["dev"], y["dev"], epochs, seed)
    with torch.no_grad():
        result.update(
            compare(parts["heldout"], y["heldout"], predict(head, x["heldout"]), "held-out")
        )
    trained_on = "CMDD train and CHIP-CDEE train, development 80% (research data)"
    meta = {"left": left, "right": right, "encoder": str(encoder), "trained_on": trained_on}
    write_classifier(model, windows, head, meta)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)


if __name__ == "__main__":
    typer.run(main)
