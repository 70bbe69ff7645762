"""Score the clinical context (negated, uncertain, family, historical, hypothetical) on gold sets.

Gold entities are set on each doc, the rules-only clinical layer of configs/assemble.cfg
runs, and the Span extensions are compared with the gold. Prints P/R/F1 per set and
dimension, errors per case tag and per kind (gold -> predicted) and the first errors; writes
the metrics as JSON.

Besides the project's own JSONL sets, two public corpora are read by path (research data
outside the project, never copied in): `--cmdd` (a folder of CMDD dialogue files; the
patient's mentions, each dialogue given as `患者：`/`医生：` lines) and `--chip-cdee` (a
CHIP-CDEE JSON file; core_names aligned in their text). `--part dev` is the 80% to tune on,
`--part heldout` the 20% to score once (zh_medner/evaluation/context_corpora.py splits them by
dialogue or text with a fixed seed). A corpus path that is absent is skipped with a warning.
CMDD is scored with its labelling conventions (`context_corpora.CONVENTIONS`;
`--no-conventions` for the defaults). `--learned FOLDER` scores the rules followed by the
learned option (`zh_context_learned`, trained by scripts/context_classifier.py).
"""

import unicodedata
from collections.abc import Sequence
from pathlib import Path

import srsly
import typer
from wasabi import msg

from zh_medner.evaluation.context import DIMENSIONS, EvalDataError, read_eval_set, score_context
from zh_medner.evaluation.context_corpora import CONVENTIONS, PARTS, read_chip_cdee, read_cmdd
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


def load_sets(
    eval_sets: list[Path], cmdd: Path | None, chip_cdee: Path | None, parts: list[str]
) -> list[tuple[str, list, dict]]:
    """(name, records, reading counts) of each set to score."""
    sets = [(str(path), read_eval_set(path), {}) for path in eval_sets]
    for flag, path, reader in (("cmdd", cmdd, read_cmdd), ("chip-cdee", chip_cdee, read_chip_cdee)):
        if path is None:
            continue
        if not path.exists():
            msg.warn(f"--{flag} {path} is absent: skipped (research data, read by path)")
            continue
        for part in parts:
            records, stats = reader(path, part=part)
            sets.append((f"{flag}:{part}", records, dict(stats)))
    return sets


def _interval(interval) -> str:
    return "" if interval is None else f"{interval[0]:.3f}-{interval[1]:.3f}"


def report(name: str, scores: dict, stats: dict) -> None:
    msg.divider(f"{name}: {scores['sentences']} texts, {scores['entities']} entities")
    if stats:
        print(", ".join(f"{k}: {v}" for k, v in stats.items()) + "\n")
    rows = [
        (
            dim,
            f"{s['p']:.3f}",
            f"{s['r']:.3f}",
            f"{s['f']:.3f}",
            _interval(s["f_interval"]),
            s["support"],
            s["tp"],
            s["fp"],
            s["fn"],
        )
        for dim, s in ((d, scores[d]) for d in DIMENSIONS if d in scores)
    ]
    print_table(rows, header=("", "P", "R", "F1", "F1 95% interval", "support", "TP", "FP", "FN"))
    case_rows = [
        (case, c["entities"], c["errors"]) for case, c in scores["by_case"].items() if c["errors"]
    ]
    if case_rows:
        print_table(
            sorted(case_rows, key=lambda r: (-r[2], r[0]))[:15],
            header=("case", "entities", "errors"),
        )
    if scores["by_kind"]:
        print_table(
            list(scores["by_kind"].items())[:10],
            header=("error kind (gold -> predicted)", "errors"),
        )
    cue_rows = [
        (dim, cue, c["set"], c["right"], f"{c['right'] / c['set']:.2f}")
        for dim, cues in scores["by_cue"].items()
        for cue, c in cues.items()
        if c["set"] > c["right"]
    ]
    if cue_rows:  # the cues that set an attribute wrongly most often: where rules go wrong
        print_table(
            sorted(cue_rows, key=lambda r: (r[3] - r[2], r[0], r[1]))[:15],
            header=("attribute", "cue", "set", "right", "precision"),
        )
    errors = scores["errors"]
    if errors:
        err_rows = [
            (
                e["id"],
                (e["sentence"] or e["text"]).strip().replace("\n", " ")[:40],
                f"{e['entity']} ({e['label']})",
                e["gold"],
                e["predicted"],
            )
            for e in errors[:MAX_ERRORS_SHOWN]
        ]
        print_table(err_rows, header=("id", "text", "entity", "gold", "predicted"))


def main(
    eval_sets: list[Path] = typer.Argument(
        None, help="JSONL evaluation sets (default: the project's three)"
    ),
    config: Path = typer.Option(
        Path("configs/assemble.cfg"), "--config", help="the assembly config"
    ),
    rules: Path = typer.Option(Path("zh_medner/resources/context_rules_zh.json"), "--rules"),
    cmdd: Path = typer.Option(None, "--cmdd", help="a folder of CMDD dialogue files"),
    chip_cdee: Path = typer.Option(None, "--chip-cdee", help="a CHIP-CDEE JSON file"),
    part: list[str] = typer.Option(
        ["dev"], "--part", help=f"part of the corpora to score, one of {list(PARTS)}; repeatable"
    ),
    output: Path = typer.Option(
        Path("metrics/context.json"), "--output", help="metrics JSON to write"
    ),
    conventions: bool = typer.Option(
        True, "--conventions/--no-conventions", help="score CMDD with its labelling conventions"
    ),
    learned: Path = typer.Option(
        None, "--learned", help="add zh_context_learned after the rules, from this folder"
    ),
):
    """Print and save precision/recall/F1 of each context dimension on gold entities."""
    eval_sets = eval_sets if eval_sets or cmdd or chip_cdee else SETS
    results, pipelines = {}, {}
    try:
        for name, records, stats in load_sets(eval_sets or [], cmdd, chip_cdee, part):
            settings = CONVENTIONS.get(name.split(":")[0], {}) if conventions else {}
            key = tuple(sorted(settings.items()))
            if key not in pipelines:
                overrides = {"paths.context_rules": str(rules), **settings}
                pipelines[key] = rules_pipeline(config, overrides, exclude=["entity_ruler"])
                if learned is not None:
                    pipelines[key].add_pipe("zh_context_learned").initialize(path=str(learned))
            scores = score_context(pipelines[key], records, source=name)
            report(name, scores, {**stats, **settings})
            results[name] = {**scores, "read": stats, "settings": settings}
    except (EvalDataError, ValueError, OSError) as err:
        msg.fail(str(err), exits=1)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, results)
    msg.good(f"Saved metrics to {output}")


if __name__ == "__main__":
    typer.run(main)
