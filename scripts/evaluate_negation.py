"""Score the negation and uncertainty components on the project's gold set.

    python scripts/evaluate_negation.py [assets/negation_eval.jsonl]
        [--negation-termset PATH] [--uncertainty-termset PATH] [--output metrics/negation.json]

Gold entities are set on each doc, the rules-only context pipeline
(zh_medner.context.context_pipeline) runs, and ent._.negex / ent._.uncertain are
compared with the gold status. Prints P/R/F1 for "negated" and "uncertain",
error counts per case tag and up to 20 errors; writes the metrics as JSON.
"""
import unicodedata
from pathlib import Path
from typing import Optional, Sequence

import srsly
import typer
from wasabi import msg

from zh_medner.context import context_pipeline
from zh_medner.evaluation.context import EvalDataError, read_eval_set, score_context

MAX_ERRORS_SHOWN = 20


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def print_table(rows: Sequence[Sequence], header: Sequence[str]) -> None:
    """A plain table whose columns line up with Chinese text (wide characters count twice)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    print("\n".join(lines) + "\n")


def main(
    eval_path: Path = typer.Argument(Path("assets/negation_eval.jsonl"), help="JSONL evaluation set"),
    negation_termset: Optional[Path] = typer.Option(None, "--negation-termset", help="negation termset JSON"),
    uncertainty_termset: Optional[Path] = typer.Option(
        None, "--uncertainty-termset", help="uncertainty termset JSON"
    ),
    output: Path = typer.Option(Path("metrics/negation.json"), "--output", help="metrics JSON to write"),
):
    """Print and save precision/recall/F1 of negation and uncertainty on gold entities."""
    try:
        records = read_eval_set(eval_path)
        nlp = context_pipeline(negation_termset, uncertainty_termset)
        scores = score_context(nlp, records, source=str(eval_path))
    except (EvalDataError, ValueError, OSError) as err:
        msg.fail(str(err), exits=1)

    msg.divider(f"Context evaluation: {eval_path} ({scores['sentences']} sentences, {scores['entities']} entities)")
    rows = [
        (dim, f"{s['p']:.3f}", f"{s['r']:.3f}", f"{s['f']:.3f}", s["support"], s["tp"], s["fp"], s["fn"])
        for dim, s in ((d, scores[d]) for d in ("negated", "uncertain"))
    ]
    print_table(rows, header=("", "P", "R", "F1", "support", "TP", "FP", "FN"))

    case_rows = [(case, c["entities"], c["errors"]) for case, c in scores["by_case"].items() if c["errors"]]
    if case_rows:
        msg.divider("Errors per case tag")
        print_table(sorted(case_rows, key=lambda r: (-r[2], r[0])), header=("case", "entities", "errors"))

    errors = scores["errors"]
    if errors:
        msg.divider(f"Errors ({min(len(errors), MAX_ERRORS_SHOWN)} of {len(errors)})")
        err_rows = [
            (e["id"], e["text"], f"{e['entity']} ({e['label']})", e["gold"], e["predicted"])
            for e in errors[:MAX_ERRORS_SHOWN]
        ]
        print_table(err_rows, header=("id", "text", "entity", "gold", "predicted"))
    else:
        msg.good("No errors")

    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, scores)
    msg.good(f"Saved metrics to {output}")


if __name__ == "__main__":
    typer.run(main)
