"""Curves a user reads at a glance: official F1 against labelled records, one line per series,
and the same numbers as a Markdown table."""

from collections import defaultdict
from pathlib import Path


def series(rows: list[dict], name_key: str, x_key: str = "size") -> dict[str, list[tuple]]:
    """{series name: [(x, mean official F1, runs)]} averaged over seeds, sorted by x."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        groups[(row[name_key], row[x_key])].append(row["official_f"])
    out: dict[str, list[tuple]] = defaultdict(list)
    for (name, x), values in sorted(groups.items()):
        out[name].append((x, sum(values) / len(values), len(values)))
    return dict(out)


def plot(curves: dict[str, list[tuple]], path: Path, title: str, xlabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, points in curves.items():
        ax.plot([p[0] for p in points], [100 * p[1] for p in points], marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("official CMeEE F1 (dev subset)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def table(curves: dict[str, list[tuple]], xlabel: str) -> str:
    xs = sorted({p[0] for points in curves.values() for p in points})
    head = f"| {xlabel} | " + " | ".join(str(x) for x in xs) + " |"
    lines = [head, "|---" * (len(xs) + 1) + "|"]
    for name, points in curves.items():
        by_x = {p[0]: p for p in points}
        cells = [f"{100 * by_x[x][1]:.1f}" if x in by_x else "-" for x in xs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
