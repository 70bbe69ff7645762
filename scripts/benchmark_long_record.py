"""Time one long record through a pipeline: seconds, and seconds per 10,000 characters.

    python scripts/benchmark_long_record.py MODEL [--sizes 10000,20000,40000,100000] [--threads 2]
        [--precision auto] (the encoder's precision; default: the pipeline's config)

Each record is clinical text: the notes of assets/default_corpus.label_studio.json one after
another (one a line), cut to the size. A pipeline whose cost grows with the text's length shows
the same seconds per 10k characters at every size; one that grows with its square (negspacy's
clause loop: 10k chars 4.1 s, 20k 23.8 s, 40k 108 s) shows it growing with the size. The issue's
target: a 100,000-character record in under 10 s on 2 cores (`taskset -c 0,1 ... --threads 2`).
Timings belong here, never in unit tests: they depend on the machine and on what else runs.
"""

import json
import resource
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT / "assets" / "default_corpus.label_studio.json"


def clinical_text(size: int, notes_path: Path = NOTES) -> str:
    notes = [t["data"]["text"] for t in json.loads(notes_path.read_text(encoding="utf8"))]
    text, i = [], 0
    length = 0
    while length < size:
        note = notes[i % len(notes)].strip()
        text.append(note)
        length += len(note) + 1
        i += 1
    return "\n".join(text)[:size]


def main(
    model: str = typer.Argument(..., help="Installed package name or pipeline folder"),
    sizes: str = typer.Option("10000,20000,40000,100000", "--sizes", help="Characters"),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Runs per size; the fastest counts"),
    exclude: str = typer.Option(
        "", "--exclude", help="Components left out, comma-separated (e.g. time the encoder alone)"
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the table as JSON"),
    precision: str | None = typer.Option(
        None, "--precision", help="auto, fp32, bf16 or int8 (default: the pipeline's config)"
    ),
):
    """Print chars, seconds, seconds per 10k characters, entities and peak RSS per record size."""
    import spacy
    import torch
    from wasabi import msg

    from zh_medner.io import PathError, check_outputs, write_text_atomic
    from zh_medner.serving.loading import check_precision

    try:
        check_outputs([out], [])
    except PathError as e:
        msg.fail(str(e), exits=1)
    if threads:
        torch.set_num_threads(threads)
    lengths = [int(s) for s in sizes.split(",")]
    overrides = check_precision(model, precision)
    nlp = spacy.load(model, exclude=[n for n in exclude.split(",") if n], config=overrides)
    nlp.max_length = max(nlp.max_length, max(lengths) + 1)
    nlp(clinical_text(2000))  # warm-up: first-call allocations are not the record's cost
    rows = []
    has = "transformer" in nlp.pipe_names
    trf = nlp.get_pipe("transformer").model.layers[0].shims[0] if has else None
    run = trf.run_precision() if hasattr(trf, "run_precision") else "fp32"
    print(f"{model}: {', '.join(nlp.pipe_names)}; torch threads {torch.get_num_threads()}; {run}")
    print(f"{'chars':>8} {'seconds':>9} {'s/10k':>7} {'entities':>9} {'peak RSS MB':>12}")
    for size in lengths:
        text = clinical_text(size)
        best, ents = float("inf"), 0
        for _ in range(repeat):
            start = time.perf_counter()
            doc = nlp(text)
            best = min(best, time.perf_counter() - start)
            ents = len(doc.ents)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row = {"chars": size, "seconds": round(best, 3), "s_per_10k": round(best / size * 1e4, 3)}
        row.update(entities=ents, peak_rss_mb=round(rss))
        rows.append(row)
        print(f"{size:>8} {best:>9.2f} {row['s_per_10k']:>7.3f} {ents:>9} {row['peak_rss_mb']:>12}")
    first, last = rows[0], rows[-1]
    growth = last["s_per_10k"] / first["s_per_10k"] if first["s_per_10k"] else float("nan")
    size_ratio = last["chars"] / first["chars"]
    print(
        f"s/10k at {last['chars']} chars / at {first['chars']}: {growth:.2f} "
        f"(1 = linear; {size_ratio:.0f} = quadratic)"
    )
    if out:
        report = {"model": model, "precision": run, "rows": rows}
        write_text_atomic(out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    typer.run(main)
