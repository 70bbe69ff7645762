"""Annotate a JSONL file with a pipeline: entities, negation, uncertainty. Resumable."""

import sys
from pathlib import Path

import spacy
import typer
from tqdm import tqdm
from wasabi import msg

from zh_medner.serving.batch import annotate_file, last_done_line


def main(
    input_path: Path,
    output_path: Path,
    model: str = typer.Option(
        "zh_medner_trf", "--model", "-m", help="Installed package name or pipeline folder"
    ),
    text_key: str = typer.Option("text", "--text-key"),
    id_key: str = typer.Option(
        "id", "--id-key", help="Copied from each input record to its output line"
    ),
    batch_size: int = typer.Option(64, "--batch-size"),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
):
    """Write one output line per input record: {id, line, entities} or {line, error}.

    Rerunning after an interruption continues after the last complete output line.
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    nlp = spacy.load(model)
    with input_path.open("rb") as f:
        total = sum(1 for _ in f)
    done = last_done_line(output_path)
    bar = tqdm(total=total, initial=done, unit="rec", file=sys.stderr)

    def on_error(line: int, error: str) -> None:
        bar.write(f"{input_path}:{line}: {error}", file=sys.stderr)
        bar.update(1)

    counts = annotate_file(
        nlp,
        input_path,
        output_path,
        text_key=text_key,
        id_key=id_key,
        batch_size=batch_size,
        on_error=on_error,
        progress=bar.update,
    )
    bar.close()
    msg.good(
        f"{counts['annotated']} annotated, {counts['errors']} malformed, {counts['skipped']} "
        f"already done -> {output_path}"
    )


if __name__ == "__main__":
    typer.run(main)
