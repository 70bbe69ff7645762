"""Learning curves: recipes trained on nested, seeded subsets of CMeEE v1 train, scored on a
fixed dev subset (configs/learning_curve.json holds the budgets and the recipes)."""

from pathlib import Path

import srsly
import typer
from wasabi import msg

from zh_medner.io import write_text_atomic
from zh_medner.training.curve import learning_curve, prepare
from zh_medner.training.experiments import Plan, Results
from zh_medner.training.plots import plot, series, table

app = typer.Typer(add_completion=False, no_args_is_help=True)
PLAN = typer.Option(Path("configs/learning_curve.json"), "--plan")
SIZES = typer.Option("100,300,1000,3000", "--sizes")


def sizes_of(text: str) -> list[int]:
    return sorted(int(s) for s in text.split(",") if s.strip())


@app.command("prepare")
def prepare_cmd(
    train: Path, dev: Path, out: Path, plan: Path = PLAN, sizes: str = SIZES, seed: int = 0
):
    """Tune set, dev subset and the unlabeled text outside the largest subset."""
    info = prepare(Plan.from_file(plan), train, dev, out, sizes_of(sizes), seed)
    msg.good(f"{out}: {info}")


@app.command("run")
def run_cmd(
    train: Path,
    out: Path,
    recipes: str = typer.Option("plain,augment,dapt,gentle", "--recipes"),
    plan: Path = PLAN,
    sizes: str = SIZES,
    seed: int = 0,
    dicts: Path = typer.Option(Path("../shared/data/dicts"), "--dicts"),
):
    """Train and score each recipe at each size (finished runs in OUT/results.jsonl are kept)."""
    names = [r for r in recipes.split(",") if r]
    learning_curve(Plan.from_file(plan), train, out, sizes_of(sizes), names, seed, dicts, msg.info)


@app.command("plot")
def plot_cmd(out: Path, png: Path, table_path: Path):
    """The curve (PNG) and its table (Markdown) from OUT/results.jsonl."""
    rows = Results(out / "results.jsonl").rows
    curves = series(rows, "recipe")
    plot(curves, png, "Learning curve on CMeEE v1 (seed-averaged)", "labelled training records")
    seconds = sum(r.get("train_seconds", 0) for r in rows)
    text = table(curves, "records") + f"\n{len(rows)} runs, {seconds / 3600:.1f} h of training\n"
    write_text_atomic(table_path, text)
    srsly.write_json(table_path.with_suffix(".json"), curves)
    msg.good(f"{png}, {table_path}")


if __name__ == "__main__":
    app()
