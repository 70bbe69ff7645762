"""Annotate a JSONL file with a pipeline: entities, negation, uncertainty. Resumable.

The same runner as `zh-medner annotate MODEL INPUT OUTPUT` (zh_medner/serving/cli.py).
"""

from pathlib import Path

import typer

from zh_medner.serving.cli import ENCODING_HELP, run_annotate


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
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
    processes: int = typer.Option(
        1, "--processes", min=1, help="Worker processes, one torch thread each"
    ),
    encoding: str = typer.Option("utf-8", "--encoding", help=ENCODING_HELP),
    restart: bool = typer.Option(
        False, "--restart", help="Annotate from the start: replaces OUTPUT and its sidecar"
    ),
):
    """Write one output line per input line: {id, line, entities} or {line, error}.

    Rerunning after an interruption continues after the last complete output line.
    """
    run_annotate(
        model,
        input_path,
        output_path,
        text_key,
        id_key,
        batch_size,
        threads,
        processes,
        encoding,
        restart,
    )


if __name__ == "__main__":
    typer.run(main)
