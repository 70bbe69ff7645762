"""The learned option of issue 19, measured: a small classifier over the encoder's features of
a finding and its context, against the rules, on the same held-out 20%.

Each gold finding of CMDD (the patient's mentions; a dialogue's previous line is context) and
CHIP-CDEE is cut out with its context (`--left`/`--right` characters), encoded by the project's
pretrained character encoder (frozen), and described by the mean hidden state of the finding,
of the left and right context, and of the whole window; with `--with-rules`, the rules' own
verdict (negated, uncertain, hypothetical) is added. A linear softmax over present / negated /
uncertain is trained on the development 80% of both corpora (its epochs chosen on a tenth of
that, by dialogue or text), then both it and the rules are scored on the held-out 20%.

    python scripts/context_classifier.py [--with-rules] [--output metrics/context_classifier.json]
"""

import random
from pathlib import Path

import srsly
import torch
import typer
from transformers import AutoModel, AutoTokenizer

from zh_medner.evaluation.context import gold_doc
from zh_medner.evaluation.context_corpora import CONVENTIONS, read_chip_cdee, read_cmdd
from zh_medner.evaluation.gold import rules_pipeline, run_rules

CLASSES = ("affirmed", "negated", "uncertain")


def examples(nlp, records: list[dict], corpus: str, left: int, right: int) -> list[dict]:
    """One example per gold finding: its window, where it sits there, gold and rule verdicts."""
    out = []
    for record in records:
        doc = run_rules(nlp, gold_doc(nlp, record, record["id"]))
        text = record["text"]
        gold = {(e["start"], e["end"]): e["status"] for e in record["entities"]}
        for ent in doc.ents:
            a, b = ent.start_char, ent.end_char
            lo = max(text.rfind("\n", 0, max(text.rfind("\n", 0, a), 0)) + 1, a - left)
            hi = min(len(text) if text.find("\n", b) < 0 else text.find("\n", b), b + right)
            rules = [ent._.negated, ent._.uncertain, ent._.hypothetical]
            out.append(
                {
                    "group": f"{corpus}:{record['id']}",
                    "corpus": corpus,
                    "window": text[lo:hi],
                    "span": (a - lo, b - lo),
                    "gold": CLASSES.index(gold[(a, b)]),
                    "rules": [float(x) for x in rules],
                    "rule_class": 2 if rules[1] else 1 if rules[0] else 0,
                }
            )
    return out


@torch.no_grad()
def features(items: list[dict], encoder: Path, batch_size: int = 64) -> torch.Tensor:
    """[finding mean, left mean, right mean, window mean] of the frozen encoder's last layer."""
    tokenizer, model = AutoTokenizer.from_pretrained(encoder), AutoModel.from_pretrained(encoder)
    model.eval()
    rows = []
    for i in range(0, len(items), batch_size):
        batch = items[i : i + batch_size]
        windows = [x["window"] for x in batch]
        enc = tokenizer(windows, return_offsets_mapping=True, padding=True, truncation=True,
                        max_length=256, return_tensors="pt")  # fmt: skip
        offsets = enc.pop("offset_mapping")
        hidden = model(**enc).last_hidden_state
        for j, item in enumerate(batch):
            a, b = item["span"]
            starts, ends = offsets[j, :, 0], offsets[j, :, 1]
            real = (ends > starts) & enc["attention_mask"][j].bool()
            parts = [
                real & (starts >= a) & (ends <= b),
                real & (ends <= a),
                real & (starts >= b),
                real,
            ]
            rows.append(torch.cat([_mean(hidden[j], mask) for mask in parts]))
    return torch.stack(rows)


def _mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden[mask].mean(0) if mask.any() else torch.zeros(hidden.shape[-1])


def train(x: torch.Tensor, y: torch.Tensor, val: torch.Tensor, epochs: int, seed: int):
    """A linear softmax; the epoch with the best macro F1 of negated and uncertain on `val`."""
    torch.manual_seed(seed)
    mean, std = x[~val].mean(0), x[~val].std(0) + 1e-6
    layer = torch.nn.Linear(x.shape[1], len(CLASSES))
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-4)
    best, state = -1.0, None
    xs = (x - mean) / std
    for _ in range(epochs):
        for idx in torch.randperm(int((~val).sum())).split(128):
            rows = torch.nonzero(~val).squeeze(1)[idx]
            loss = torch.nn.functional.cross_entropy(layer(xs[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            pred = layer(xs[val]).argmax(1)
        score = sum(f1(pred, y[val], c) for c in (1, 2)) / 2
        if score > best:
            best, state = score, {k: v.clone() for k, v in layer.state_dict().items()}
    layer.load_state_dict(state)
    return lambda z: layer((z - mean) / std).argmax(1)


def f1(pred: torch.Tensor, gold: torch.Tensor, c: int) -> float:
    tp = int(((pred == c) & (gold == c)).sum())
    fp, fn = int(((pred == c) & (gold != c)).sum()), int(((pred != c) & (gold == c)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def main(
    data: Path = typer.Option(Path("../shared/data/context"), help="CMDD and CHIP-CDEE train"),
    encoder: Path = typer.Option(Path("encoders/medchar-roformer-4x256")),
    config: Path = typer.Option(Path("configs/assemble.cfg")),
    rules: Path = typer.Option(Path("zh_medner/resources/context_rules_zh.json")),
    with_rules: bool = typer.Option(False, help="add the rules' verdicts to the features"),
    left: int = 96,
    right: int = 32,
    epochs: int = 30,
    seed: int = 19,
    output: Path = typer.Option(Path("metrics/context_classifier.json")),
):
    torch.set_num_threads(1)
    base = {"paths.context_rules": str(rules)}
    speech = rules_pipeline(config, {**base, **CONVENTIONS["cmdd"]}, exclude=["entity_ruler"])
    chart = rules_pipeline(config, base, exclude=["entity_ruler"])
    parts = {}
    for part in ("dev", "heldout"):
        cmdd = read_cmdd(data / "cmdd_train", part=part)[0]
        cdee = read_chip_cdee(data / "chip_cdee" / "CHIP-CDEE_train.json", part=part)[0]
        parts[part] = examples(speech, cmdd, "cmdd", left, right)
        parts[part] += examples(chart, cdee, "chip-cdee", left, right)
    groups = sorted({x["group"] for x in parts["dev"]})
    random.Random(seed).shuffle(groups)
    val_groups = set(groups[: len(groups) // 10])
    x = {p: features(items, encoder) for p, items in parts.items()}
    if with_rules:
        x = {p: torch.cat([x[p], torch.tensor([i["rules"] for i in parts[p]])], 1) for p in x}
    y = {p: torch.tensor([i["gold"] for i in items]) for p, items in parts.items()}
    val = torch.tensor([i["group"] in val_groups for i in parts["dev"]])
    predict = train(x["dev"], y["dev"], val, epochs, seed)
    with torch.no_grad():
        learned = predict(x["heldout"])
    result = {}
    for corpus in ("cmdd", "chip-cdee"):
        rows = torch.tensor([i["corpus"] == corpus for i in parts["heldout"]])
        rule_pred = torch.tensor([i["rule_class"] for i in parts["heldout"]])[rows]
        for name, pred in (("rules", rule_pred), ("learned", learned[rows])):
            scores = {CLASSES[c]: round(f1(pred, y["heldout"][rows], c), 4) for c in (1, 2)}
            result[f"{corpus}:heldout:{name}"] = scores
            print(f"{corpus:9s} held-out  {name:7s}  negated F1 {scores['negated']:.3f}  "
                  f"uncertain F1 {scores['uncertain']:.3f}")  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, {"with_rules": with_rules, "left": left, "right": right, **result})


if __name__ == "__main__":
    typer.run(main)
