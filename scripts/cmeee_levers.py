"""One lever at a time on CMeEE v1 at a fixed budget (configs/cmeee_levers.json), each scored on
the 1,000 held-out training records (corpus/cmeee/tune.spacy), never on dev."""

from pathlib import Path

import typer
from wasabi import msg

from zh_medner.io import write_text_atomic
from zh_medner.training.curve import compare_recipes, read_docs
from zh_medner.training.experiments import Plan, Results, write_docs

app = typer.Typer(add_completion=False, no_args_is_help=True)
PLAN = typer.Option(Path("configs/cmeee_levers.json"), "--plan")


def _weak_types(scores: dict) -> tuple:
    """SYM and ITE F1 of an official score, as table cells."""
    return tuple(f"{100 * scores['per_type'].get(k, {}).get('f', 0.0):.1f}" for k in ("SYM", "ITE"))


@app.command("run")
def run_cmd(
    train: Path,
    held_out: Path,
    out: Path,
    recipes: str = typer.Option(..., "--recipes"),
    plan: Path = PLAN,
    seed: int = 0,
    dicts: Path = typer.Option(Path("../shared/data/dicts"), "--dicts"),
):
    """Train each recipe (finished ones in OUT/results.jsonl are kept) and score it."""
    held = read_docs(held_out)
    if not (out / "dev.spacy").exists():
        write_docs(out / "dev.spacy", held)
        write_docs(out / "tune.spacy", held[:20])  # spaCy's loop needs one; nothing is selected
    names = [r for r in recipes.split(",") if r]
    compare_recipes(Plan.from_file(plan), train, out, names, seed, dicts, msg.info)


@app.command("table")
def table_cmd(out: Path, table_path: Path, baseline: str = "fp32"):
    rows = Results(out / "results.jsonl").rows
    base = next((r for r in rows if r["recipe"] == baseline), None)
    lines = [
        "| recipe | official F1 | delta | SYM | ITE | train min |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        delta = f"{100 * (r['official_f'] - base['official_f']):+.1f}" if base else "-"
        sym, ite = (100 * r["per_type"].get(k, 0.0) for k in ("SYM", "ITE"))
        lines.append(
            f"| {r['recipe']} | {100 * r['official_f']:.1f} | {delta} | {sym:.1f} | {ite:.1f} | "
            f"{r['train_seconds'] / 60:.0f} |"
        )
    write_text_atomic(table_path, "\n".join(lines) + "\n")
    msg.good(f"{table_path}")


@app.command("thresholds")
def thresholds_cmd(
    model: Path,
    held_out: Path,
    half: int = typer.Option(500, "--half"),
    swap: bool = typer.Option(False, "--swap", help="tune on the rest, score the first HALF"),
    cross_check: bool = typer.Option(
        False, "--cross-check", help="tune as tune_thresholds.py --cross-check does"
    ),
):
    """The per-label threshold lever: tune on the first HALF held-out records, score the rest
    before and after (the rest never chose a threshold); --swap: the other way round."""
    import spacy

    from zh_medner.evaluation.ner import evaluate_ner
    from zh_medner.training.thresholds import tune_thresholds

    nlp = spacy.load(model)
    gold = read_docs(held_out)
    tune, scored = gold[:half], gold[half:]
    if swap:
        tune, scored = scored, tune
    before = evaluate_ner(nlp, scored)["official"]
    tuned = tune_thresholds(nlp, tune, cross_check)
    after = evaluate_ner(nlp, scored)["official"]
    rows = [
        (name, f"{100 * s['f']:.1f}", f"{100 * s['p']:.1f}", f"{100 * s['r']:.1f}") + _weak_types(s)
        for name, s in (("default", before), ("tuned", after))
    ]
    msg.table(rows, header=("thresholds", "F1", "P", "R", "SYM", "ITE"), divider=True)
    msg.info({label: v["threshold"] for label, v in tuned.items()})


@app.command("soup")
def soup_cmd(
    models: list[Path],
    held_out: Path = typer.Option(..., "--held-out"),
    output: Path = typer.Option(None, "--output"),
):
    """The weight-average lever: the uniform soup of MODELS (one config and seed), scored on
    the held-out records beside each ingredient; --output saves the soup."""
    import spacy

    from zh_medner.evaluation.ner import evaluate_ner
    from zh_medner.training.soup import soup

    gold = read_docs(held_out)
    rows = [(str(m), evaluate_ner(spacy.load(m), gold)["official"]) for m in models]
    nlp = soup(models)
    rows.append(("soup", evaluate_ner(nlp, gold)["official"]))
    if output:
        nlp.to_disk(output)
    table = [(name, f"{100 * s['f']:.2f}") + _weak_types(s) for name, s in rows]
    msg.table(table, header=("pipeline", "F1", "SYM", "ITE"), divider=True)


if __name__ == "__main__":
    app()
