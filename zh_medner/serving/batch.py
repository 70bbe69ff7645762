"""The file runner of `zh-medner annotate`: JSON Lines records in, one output line per input
line out, resumable (resume.py).

Output: `{id, line, entities}` for a record (entities as schema.py's `Entity`, with what the
pipeline sets), `{line, error}` for a line that holds none (invalid JSON, not UTF-8, no text, a
blank line) or that the pipeline fails on; the run goes on. `line` is the input line as an
editor numbers it (the reader, zh_medner/jsonl.py: \\n, \\r\\n or a lone \\r end a line; a raw
\\r inside a JSON string keeps the record whole, and its output line takes the number of the
line the record starts on). A UTF-8 BOM at the start is dropped. OUTPUT + ".lock" is held for
the run (zh_medner/locking.py): a second run on the same OUTPUT is refused.
"""

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from spacy.language import Language

from ..io import OptionError, PathError, check_output
from ..jsonl import read_jsonl
from ..locking import output_lock
from .model_hash import nlp_fingerprint
from .pipe import pipe_items
from .resume import Plan, plan_run, run_options, start_run
from .schema import context_keys, entity_dicts, record_error


def read_input(
    path: Path, text_key: str = "text", encoding: str = "utf-8", after: int = 0
) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, record, None) or (line, None, error) for each input line after line `after`:
    every line is answered, a blank one or one that does not decode too."""
    for item in read_jsonl(path, encoding, errors="record", skip_blank=False, after=after):
        error = item.error.message if item.error else record_error(item.value, text_key)
        yield item.line, None if error else item.value, error


def check_run_options(batch_size: int, n_process: int = 1) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"--batch-size must be 1 or more, got {batch_size!r}")
    if not isinstance(n_process, int) or n_process < 1:
        raise OptionError(f"--processes must be 1 or more, got {n_process!r}")


def _dumps(value: dict) -> bytes:
    try:
        return (json.dumps(value, ensure_ascii=False) + "\n").encode("utf8")
    except UnicodeEncodeError:  # a lone surrogate: a JSON escape keeps the value exact
        return (json.dumps(value) + "\n").encode("ascii")


def annotate_file(
    nlp: Language,
    input_path: Path,
    output_path: Path,
    text_key: str = "text",
    id_key: str | None = "id",
    batch_size: int = 64,
    on_error: Callable[[int, str], None] = lambda line, error: None,
    progress: Callable[[int], None] | None = None,
    *,
    encoding: str = "utf-8",
    n_process: int = 1,
    restart: bool = False,
    plan: Plan | None = None,
    precision: str | None = None,
) -> dict[str, int]:
    """Annotate INPUT_PATH into OUTPUT_PATH, resuming after what OUTPUT_PATH already holds.

    `plan` is what `plan_run` + `start_run` decided before the pipeline loaded (the command does
    that to refuse early); without it they run here. `precision`: the one `nlp` was loaded
    with, when a run asked for one (it is part of what a resume must match). With `n_process`
    > 1 call `pipe.use_processes` before loading the pipeline.
    """
    check_run_options(batch_size, n_process)
    input_path, output_path = Path(input_path), Path(output_path)
    options = run_options(text_key, id_key, encoding, nlp_fingerprint(nlp), precision)
    check_output(output_path, [input_path])  # before the lock file is made beside it
    with output_lock(output_path):  # re-entrant: the command already holds it
        if plan is None:
            plan = plan_run(input_path, output_path, options, restart)
            start_run(plan)
        elif plan.options != options or plan.output_path != output_path:
            raise ValueError(
                f"the plan is for {plan.output_path} with {plan.options}, not {options}"
            )
        return _annotate_plan(nlp, plan, batch_size, on_error, progress, n_process)


def _output_lines(nlp: Language, plan: Plan, batch_size: int, n_process: int) -> Iterator:
    """(input line, output line, error or None) for each input line after `plan.done`."""
    text_key, id_key = plan.options["text_key"], plan.options["id_key"]
    keys = context_keys(nlp)
    records = read_input(plan.input_path, text_key, plan.options["encoding"], after=plan.done)
    items = (((n, r), r[text_key] if r else None, error) for n, r, error in records)
    for (line_no, record), doc, error in pipe_items(nlp, items, batch_size, n_process):
        if error is not None:
            yield line_no, {"line": line_no, "error": error}, error
            continue
        out = {"line": line_no, "entities": entity_dicts(doc, keys)}
        if id_key and id_key in record:
            out = {id_key: record[id_key], **out}
        yield line_no, out, None


def _annotate_plan(nlp, plan: Plan, batch_size, on_error, progress, n_process) -> dict[str, int]:
    """The run itself, under the output's lock: output lines synced every `batch_size`."""
    output_path = plan.output_path
    counts = {"skipped": plan.done, "annotated": 0, "errors": 0}
    try:
        fout = output_path.open("ab")
        fout.truncate(plan.keep)
    except OSError as e:
        raise PathError(output_path, None, f"cannot write it ({e.strerror})") from None
    with fout:
        reported = line_no = plan.done

        def sync() -> None:
            nonlocal reported
            fout.flush()
            os.fsync(fout.fileno())
            if progress and line_no > reported:
                progress(line_no - reported)  # input lines, counting those inside a record
                reported = line_no

        try:
            lines = _output_lines(nlp, plan, batch_size, n_process)
            for written, (line_no, out, error) in enumerate(lines, 1):
                counts["errors" if error else "annotated"] += 1
                if error:
                    on_error(line_no, error)
                fout.write(_dumps(out))
                if written % batch_size == 0:
                    sync()
            line_no = max(line_no, plan.lines)  # blank or continued lines at the end
            sync()
        except OSError as e:
            if e.filename and Path(e.filename) != output_path:
                raise
            raise PathError(output_path, None, f"cannot write it ({e.strerror})") from None
    return counts
