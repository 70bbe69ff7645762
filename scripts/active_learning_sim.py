"""Active-learning simulation on CMeEE v1 train: random, least-confident and expected-errors
selection, rounds of 100 records, each strategy over the same seeds (budgets in
configs/active_learning.json: smaller than the learning curve's, for 13 trainings a seed)."""

from pathlib import Path

import srsly
import typer
from wasabi import msg

from zh_medner.io import write_text_atomic
from zh_medner.training.active import labels_random_needs, simulate
from zh_medner.training.experiments import Plan, Results
from zh_medner.training.plots import plot, series, table
from zh_medner.training.selection import STRATEGIES

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.command("run")
def run_cmd(
    train: Path,
    out: Path = typer.Argument(..., help="Folder of the learning curve's prepare (dev, tune)"),
    strategies: str = typer.Option(",".join(STRATEGIES), "--strategies"),
    seeds: str = typer.Option("0,1", "--seeds"),
    rounds: int = typer.Option(4, "--rounds", min=1),
    batch: int = typer.Option(100, "--batch", min=1),
    pool_size: int = typer.Option(1500, "--pool"),
    plan: Path = typer.Option(Path("configs/active_learning.json"), "--plan"),
):
    """Run (or resume) the simulation: OUT/active.jsonl gets one row per round."""
    names = [s for s in strategies.split(",") if s]
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    kwargs = {"start": batch, "batch": batch, "rounds": rounds, "pool_size": pool_size}
    simulate(Plan.from_file(plan), train, out, names, seed_list, log=msg.info, **kwargs)


def expand_start(rows: list[dict]) -> list[dict]:
    """The shared first round belongs to every strategy's line."""
    names = sorted({r["key"].split("/")[0] for r in rows} - {"start"})
    out = [
        r | {"strategy": r["key"].split("/")[0]} for r in rows if not r["key"].startswith("start")
    ]
    out += [r | {"strategy": n} for r in rows if r["key"].startswith("start") for n in names]
    return out


@app.command("plot")
def plot_cmd(out: Path, png: Path, table_path: Path):
    rows = expand_start(Results(out / "active.jsonl").rows)
    curves = series(rows, "strategy")
    plot(curves, png, "Active learning on CMeEE v1 (seed-averaged)", "labelled records")
    lines = [table(curves, "labelled records"), "", "| strategy | labels | F1 | random needs |"]
    lines.append("|---|---|---|---|")
    for name, points in curves.items():
        if name == "random":
            continue
        for x, f1, _ in points:
            need = labels_random_needs(curves.get("random", []), f1)
            text = f"{need:.0f} ({need / x - 1:+.0%})" if need else "more than random reached"
            lines.append(f"| {name} | {x} | {100 * f1:.1f} | {text} |")
    seconds = sum(r.get("train_seconds", 0) for r in Results(out / "active.jsonl").rows)
    lines.append(f"\n{seconds / 3600:.1f} h of training in all")
    write_text_atomic(table_path, "\n".join(lines) + "\n")
    srsly.write_json(table_path.with_suffix(".json"), curves)
    msg.good(f"{png}, {table_path}")


if __name__ == "__main__":
    app()
