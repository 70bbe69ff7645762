"""`zh-medner annotate`: the batch runner (batch.py) with its checks and a progress bar.

Everything that can be refused is refused before the pipeline loads (seconds for a transformer):
the options, the paths, and whether OUTPUT can be resumed (resume.py).
"""

import contextlib
import sys
from pathlib import Path

from wasabi import msg

from .loading import check_model, check_precision, load_model, pipeline_meta

ENCODING_HELP = "Encoding of INPUT (gbk, gb18030, big5...); UTF-8 with or without a BOM by default"


def run_annotate(
    model: str,
    input_path: Path,
    output_path: Path,
    text_key: str = "text",
    id_key: str = "id",
    batch_size: int = 64,
    threads: int = 0,
    processes: int = 1,
    encoding: str = "utf-8",
    restart: bool = False,
    precision: str | None = None,
) -> None:
    """The batch runner with a progress bar: see zh_medner/serving/batch.py and resume.py.

    Everything that can be refused is refused before the pipeline loads (seconds for a
    transformer): the options, the paths, and whether OUTPUT can be resumed.
    """
    from ..io import check_encoding
    from .batch import check_run_options

    try:
        check_run_options(batch_size, processes)
        encoding = check_encoding(encoding)
    except ValueError as e:
        msg.fail(str(e), exits=1)
    if threads < 0:
        msg.fail(f"--threads must be 0 (torch's default) or more, got {threads}", exits=1)
    if processes > 1 and threads > 1:
        msg.fail(
            f"--threads {threads} with --processes {processes}: each process runs one torch "
            "thread (more would deadlock forked workers); leave --threads out",
            exits=1,
        )
    check_model(model)
    check_precision(model, precision)
    with contextlib.ExitStack() as held:
        plan = _plan_annotate(
            held, model, input_path, output_path, text_key, id_key, encoding, restart, precision
        )
        _run_plan(model, plan, batch_size, threads, processes)


def _plan_annotate(
    held, model, input_path, output_path, text_key, id_key, encoding, restart, precision
):
    """Check OUTPUT, take its lock (held until `held` closes), and decide what the run does."""
    from ..io import PathError, check_output
    from ..locking import output_lock
    from .model_hash import model_fingerprint
    from .resume import plan_run, run_options, start_run

    options = run_options(
        text_key, id_key, encoding, model_fingerprint(model, pipeline_meta(model)), precision
    )
    try:
        check_output(output_path, [input_path])  # before the lock file is made beside it
        held.enter_context(output_lock(output_path))
        plan = plan_run(input_path, output_path, options, restart)
        start_run(plan)
    except PathError as e:
        msg.fail(str(e), exits=1)
    return plan


def _run_plan(model: str, plan, batch_size: int, threads: int, processes: int) -> None:
    """Load the pipeline and annotate, with a progress bar (OUTPUT's lock is held)."""
    from tqdm import tqdm

    from ..io import PathError
    from .batch import annotate_file
    from .pipe import use_processes

    input_path, output_path = plan.input_path, plan.output_path
    if processes > 1:
        use_processes()  # before the pipeline loads: loading runs torch ops
    nlp = load_model(model, threads, plan.options.get("precision"))
    bar = tqdm(total=plan.lines, initial=plan.done, unit="line", file=sys.stderr)

    def on_error(line: int, error: str) -> None:
        bar.write(f"{input_path}:{line}: {error}", file=sys.stderr)

    try:
        counts = annotate_file(
            nlp,
            input_path,
            output_path,
            text_key=plan.options["text_key"],
            id_key=plan.options["id_key"],
            batch_size=batch_size,
            on_error=on_error,
            progress=bar.update,
            encoding=plan.options["encoding"],
            n_process=processes,
            plan=plan,
            precision=plan.options.get("precision"),
        )
    except PathError as e:
        bar.close()
        msg.fail(f"{e}; rerun the same command to resume after the last complete line", exits=1)
    bar.close()
    msg.good(
        f"{counts['annotated']} annotated, {counts['errors']} error lines, {counts['skipped']} "
        f"already done -> {output_path}"
    )
