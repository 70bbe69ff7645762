"""Score the clinical context (negated, uncertain, family, historical, hypothetical) on gold sets.

Gold entities are set on each doc, the rules-only clinical layer of configs/assemble.cfg
runs, and the Span extensions are compared with the gold. Prints P/R/F1 per set and
dimension, errors per case tag and the first errors; writes the metrics as JSON.
"""

import unicodedata
from collections.abc import Sequence
from pathlib import Path

import srsly
import typer
from wasabi import msg

from zh_medner.evaluation.context import DIMENSIONS, EvalDataError, read_eval_set, score_context
from zh_medner.evaluation.gold import rules_pipeline

SETS = [
    Path("assets/negation_eval.jsonl"),
    Path("assets/context_eval_speech.jsonl"),
    Path("assets/context_eval_chart_fhh.jsonl"),
]
MAX_ERRORS_SHOWN = 20


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def print_table(rows: Sequence[Sequence], header: Sequence[str]) -> None:
    """A plain table whose columns line up with Chinese text (wide characters count twice)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    print("\n".join(lines) + "\n")


def main(
    eval_sets: list[Path] = typer.Argument(
        None, help="JSONL evaluation sets (default: the project's three)"
    ),
    config: Path = typer.Option(
        Path("configs/assemble.cfg"), "--config", help="the assembly config"
    ),
    rules: Path = typer.Option(Path("zh_medner/resources/context_rules_zh.json"), "--rules"),
    output: Path = typer.Option(
        Path("metrics/context.json"), "--output", help="metrics JSON to write"
    ),
):
    """Print and save precision/recall/F1 of each context dimension on gold entities."""
    eval_sets = eval_sets or SETS
    results = {}
    try:
        nlp = rules_pipeline(config, {"paths.context_rules": str(rules)}, exclude=["entity_ruler"])
        for path in eval_sets:
            results[str(path)] = score_context(nlp, read_eval_set(path), source=str(path))
    except (EvalDataError, ValueError, OSError) as err:
        msg.fail(str(err), exits=1)
    for path, scores in results.items():
        msg.divider(f"{path}: {scores['sentences']} texts, {scores['entities']} entities")
        rows = [
            (
                dim,
                f"{s['p']:.3f}",
                f"{s['r']:.3f}",
                f"{s['f']:.3f}",
                s["support"],
                s["tp"],
                s["fp"],
                s["fn"],
            )
            for dim, s in ((d, scores[d]) for d in DIMENSIONS if d in scores)
        ]
        print_table(rows, header=("", "P", "R", "F1", "support", "TP", "FP", "FN"))
        case_rows = [
            (case, c["entities"], c["errors"])
            for case, c in scores["by_case"].items()
            if c["errors"]
        ]
        if case_rows:
            print_table(
                sorted(case_rows, key=lambda r: (-r[2], r[0]))[:15],
                header=("case", "entities", "errors"),
            )
        errors = scores["errors"]
        if errors:
            err_rows = [
                (
                    e["id"],
                    e["text"][:40],
                    f"{e['entity']} ({e['label']})",
                    e["gold"],
                    e["predicted"],
                )
                for e in errors[:MAX_ERRORS_SHOWN]
            ]
            print_table(err_rows, header=("id", "text", "entity", "gold", "predicted"))
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, results)
    msg.good(f"Saved metrics to {output}")


if __name__ == "__main__":
    typer.run(main)
