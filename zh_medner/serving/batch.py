"""Batch annotation: JSON Lines records in, one output line per input line out, resumable.

Output: `{id, line, entities}` for a record, `{line, error}` for a line that holds none (invalid
JSON, not UTF-8, no text, a blank line) or that the pipeline fails on; the run goes on. `line` is
the input line as an editor numbers it (the reading layer, zh_medner/io.py: \\n, \\r\\n or a lone
\\r end a line; a raw \\r inside a JSON string keeps the record whole, and its output line takes
the number of the line the record starts on). A UTF-8 BOM at the start is dropped.

Resume: a killed run continues after the last complete output line, found by reading OUTPUT
backwards from its end (memory stays bounded on a large output); a torn last line is redone.
OUTPUT + ".resume.json" (the sidecar) holds a fingerprint of the input (SHA-256 of its content)
and of the options that change the output (text key, id key, encoding, and the model: its name,
version and a SHA-256 of its files, model_hash.py): a resume against a changed input, other
options or another model is refused, and `restart=True` starts over. OUTPUT + ".lock" is held
for the run (zh_medner/locking.py): a second run on the same OUTPUT is refused.

`pipe_items` is the one place texts go through the pipeline: a batch the pipeline fails on is
retried one text at a time, so only the bad text becomes an error. The file runner and
`annotate_batch`, the unit of work for a data engine (a Dask bag's `map_partitions`, a Ray Data
`map_batches`, a Spark pandas UDF), both use it.
"""

import codecs
import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from ..components.context import CUES_EXTENSION, EXTENSIONS, SPANS_KEY
from ..io import (
    BOM,
    EncodingError,
    PathError,
    check_encoding,
    check_input,
    check_output,
    decode_text,
    split_outside_strings,
    write_text_atomic,
)
from ..json_limits import NESTED_TOO_DEEPLY, json_value_error
from ..locking import lock_path, output_lock
from .model_hash import nlp_fingerprint

# Span extensions of the clinical context -> keys in the output
CONTEXT_KEYS = {ext: "negated" if ext == "negex" else ext for ext in EXTENSIONS.values()}
# why each context key is set: [{"attribute", "cue", "start", "end"}] (zh_context's cues)
CUES_KEY = CUES_EXTENSION
SIDECAR_SUFFIX = ".resume.json"
SIDECAR_FORMAT = 1
OPTION_NAMES = {
    "text_key": "--text-key",
    "id_key": "--id-key",
    "encoding": "--encoding",
    "model": "the model",
}
# non-strict: raw control characters inside strings (a raw \r), as many exporters write them
_DECODER = json.JSONDecoder(strict=False)
_BLOCK = 1 << 20


def context_attrs(nlp: Language) -> list[tuple[str, str]]:
    """The (extension, output key) pairs that the pipeline's components declare they set."""
    assigned = {attr for name in nlp.pipe_names for attr in nlp.get_pipe_meta(name).assigns}
    return [(ext, key) for ext, key in CONTEXT_KEYS.items() if f"span._.{ext}" in assigned]


def doc_to_entities(doc: Doc, attrs: list[tuple[str, str]]) -> list[dict]:
    out = []
    for ent in doc.ents:
        item = {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text}
        for ext, key in attrs:
            item[key] = bool(getattr(ent._, ext))
        if attrs:
            item[CUES_KEY] = [dict(cue) for cue in ent._.get(CUES_EXTENSION) or []]
        if ent.ent_id_:
            item["id"] = ent.ent_id_
        out.append(item)
    return out


def doc_to_record(doc: Doc, attrs: list[tuple[str, str]]) -> dict:
    """One doc as the service returns it: every key always present.

    A context key is null where the pipeline does not set it (no `zh_context`), and so is
    `context_cues` (else the cue behind each context key that is true), and `id` is
    null where no dictionary entry names the entity. `spans` is `doc.spans["sc"]` (nested
    entities included) when the pipeline writes it, else empty.
    """
    set_keys = {key for _, key in attrs}
    ents = []
    for item in doc_to_entities(doc, attrs):
        for key in CONTEXT_KEYS.values():
            if key not in set_keys:
                item[key] = None
        item.setdefault(CUES_KEY, None)
        item.setdefault("id", None)
        ents.append(item)
    spans = [
        {"start": s.start_char, "end": s.end_char, "label": s.label_, "text": s.text}
        for s in doc.spans.get(SPANS_KEY, [])
    ]
    return {"text": doc.text, "ents": ents, "spans": spans}


# ------------------------------------------------------------------ the pipeline, text by text


class _SourceError(Exception):
    """An exception of the input iterator, kept apart from the pipeline's own failures."""


def _failure(e: Exception) -> str:
    first = (str(e).strip().splitlines() or [""])[0]
    detail = f"{type(e).__name__}: {first[:300]}" if first else type(e).__name__
    return f"the pipeline failed on this record ({detail})"


def pipe_items(
    nlp: Language, items: Iterable[tuple], batch_size: int = 64, n_process: int = 1
) -> Iterator[tuple[object, Doc | None, str | None]]:
    """For each (key, text, error): (key, doc, None), or (key, None, error), in input order.

    An item with error set (text None) passes through. A text over `nlp.max_length` becomes an
    error (spaCy's E088; the record is refused rather than split, since entities and their
    context would be cut at the split). When the pipeline raises on a batch, the texts it had
    taken and not given back are run again one at a time: only the text that fails becomes an
    error, then a fresh `nlp.pipe` goes on with the rest.
    """
    source = iter(items)
    waiting: deque = deque()  # items read, not yet given back

    def feed() -> Iterator[str]:
        while True:
            try:
                key, text, error = next(source)
            except StopIteration:
                return
            except Exception as e:
                raise _SourceError() from e
            if error is None and len(text) > nlp.max_length:
                text, error = (
                    None,
                    (
                        f"text of {len(text)} characters, over the pipeline's max_length of "
                        f"{nlp.max_length}: split the record into shorter texts"
                    ),
                )
            waiting.append((key, text, error))
            if text is not None:
                yield text

    while True:
        try:
            for doc in nlp.pipe(feed(), batch_size=batch_size, n_process=n_process):
                while waiting[0][1] is None:
                    key, _, error = waiting.popleft()
                    yield key, None, error
                key, _, _ = waiting.popleft()
                yield key, doc, None
        except _SourceError as e:
            raise e.__cause__ from None
        except Exception:
            if not waiting:
                raise  # not a record's fault: retrying would loop
            pending = list(waiting)
            waiting.clear()
            for key, text, error in pending:
                if text is None:
                    yield key, None, error
                    continue
                try:
                    (doc,) = nlp.pipe([text])
                except Exception as e:
                    yield key, None, _failure(e)
                else:
                    yield key, doc, None
            continue
        while waiting:
            key, _, error = waiting.popleft()
            yield key, None, error
        return


def annotate_texts(
    nlp: Language, texts: Iterable[str], batch_size: int = 64
) -> Iterator[list[dict]]:
    """Entities for each text, in order; a text the pipeline cannot take is a ValueError that
    names its index (the other texts of its batch are not lost: see `pipe_items`)."""
    attrs = context_attrs(nlp)
    items = ((i, t, None if isinstance(t, str) else "not a string") for i, t in enumerate(texts))
    for i, doc, error in pipe_items(nlp, items, batch_size):
        if error:
            raise ValueError(f"texts[{i}]: {error}")
        yield doc_to_entities(doc, attrs)


_PIPELINES: dict[str, Language] = {}


def annotate_batch(
    texts: Sequence[str], model: str, batch_size: int = 64, torch_threads: int = 1
) -> list[list[dict]]:
    """Entities for a batch of texts, loading `model` once per worker process.

    Engines run one worker per core: torch gets one thread each (more would
    oversubscribe the cores, and forked workers deadlock in torch's thread pool).
    """
    if model not in _PIPELINES:
        import spacy
        import torch

        torch.set_num_threads(torch_threads)
        _PIPELINES[model] = spacy.load(model)
    return list(annotate_texts(_PIPELINES[model], texts, batch_size))


def use_processes() -> None:
    """Make `nlp.pipe(n_process=N)` safe with torch; call before any torch work in the process.

    spaCy forks its workers on Linux. A fork copies the state of torch's OpenMP thread pool but
    not its threads, so a child's first parallel op waits forever on threads that do not exist
    once the parent has run one (loading a transformer does). With one thread per process the
    pool never starts, and N processes use N cores. Spawned workers (macOS, Windows) read the
    environment instead.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # Hugging Face tokenizers in forked workers
    import torch

    torch.set_num_threads(1)


# ------------------------------------------------------------------ reading the input


def parse_line(raw: str, line_no: int, text_key: str) -> tuple[dict | None, str | None]:
    """(record, None) for a usable line, (None, error) for a malformed one."""
    try:
        record = _DECODER.decode(raw)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} (column {e.colno})"
    except RecursionError:
        return None, f"invalid JSON: {NESTED_TOO_DEEPLY}"
    except ValueError as e:  # an integer over Python's digit limit (sys.get_int_max_str_digits)
        return None, f"invalid JSON: {json_value_error(e)}"
    if not isinstance(record, dict):
        return None, "a record must be a JSON object"
    if not isinstance(record.get(text_key), str):
        return None, f"missing or non-string '{text_key}'"
    return record, None


def read_input(
    path: Path, text_key: str = "text", encoding: str = "utf-8", after: int = 0
) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, record, None) or (line, None, error) for each input line after line `after`.

    The reading layer's numbering and line breaks (`iter_lines(split_cr=False)` then
    `split_outside_strings`), except that a line that does not decode is an error for that line
    and reading goes on. Lines up to `after` are skipped without decoding.
    """
    encoding = check_encoding(encoding)
    path = check_input(path)
    number = 1
    with path.open("rb") as f:
        for raw in f:  # binary lines end at b"\n" only; a lone \r is split below
            if number == 1 and encoding == "utf-8" and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            raw = raw.removesuffix(b"\n").removesuffix(b"\r")
            first = number
            # an ASCII-compatible encoding: the byte \r is the character \r
            number += 1 + raw.count(b"\r")
            if number - 1 <= after:
                continue
            try:
                text = decode_text(raw, path, encoding)
            except EncodingError as e:
                yield first + e.line - 1, None, e.message
                continue
            for crs, piece in split_outside_strings(text):
                line = first + crs
                if line <= after:
                    continue
                piece = piece.lstrip(BOM)  # where files were concatenated
                if not piece.strip(" \t\r\n"):
                    yield line, None, "blank line: JSON Lines holds one record a line"
                    continue
                record, error = parse_line(piece, line, text_key)
                yield line, record, error


def _digest_and_lines(path: Path) -> tuple[str, int, int]:
    """(SHA-256 of the content, size in bytes, number of lines as `read_input` numbers them)."""
    sha, size, lines, last = hashlib.sha256(), 0, 0, b""
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            sha.update(block)
            size += len(block)
            lines += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            if last == b"\r" and block[:1] == b"\n":
                lines -= 1  # a \r\n split between two blocks
            last = block[-1:]
    if size and last not in (b"\n", b"\r"):
        lines += 1
    return sha.hexdigest(), size, lines


# ------------------------------------------------------------------ resuming


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + SIDECAR_SUFFIX)


def run_options(
    text_key: str, id_key: str | None, encoding: str, model: str
) -> dict[str, str | None]:
    """The options that change what the output says: a resume must use the same."""
    return {
        "text_key": text_key,
        "id_key": id_key or None,
        "encoding": check_encoding(encoding),
        "model": model,
    }


@dataclass(frozen=True)
class Plan:
    """What a run will do, decided before the pipeline loads."""

    input_path: Path
    output_path: Path
    fingerprint: dict
    done: int  # the input line answered by the last complete output line (0: none)
    keep: int  # bytes of OUTPUT to keep: a torn last line is dropped
    lines: int  # lines in the input
    restart: bool
    write_sidecar: bool

    @property
    def options(self) -> dict:
        return self.fingerprint["options"]


def _rfind_newline(f, end: int) -> int:
    """Offset of the last b"\\n" before `end`, or -1; reads blocks backwards."""
    pos = end
    while pos > 0:
        start = max(0, pos - 65536)
        f.seek(start)
        i = f.read(pos - start).rfind(b"\n")
        if i >= 0:
            return start + i
        pos = start
    return -1


def _count_lines(path: Path, end: int) -> int:
    n = 0
    with path.open("rb") as f:
        while end > 0 and (block := f.read(min(_BLOCK, end))):
            n += block.count(b"\n")
            end -= len(block)
    return n


def is_output_line(value) -> bool:
    if not isinstance(value, dict) or type(value.get("line")) is not int or value["line"] < 1:
        return False
    return isinstance(value.get("entities"), list) or isinstance(value.get("error"), str)


def read_tail(output: Path) -> tuple[int, int]:
    """(input line answered by the last complete line of OUTPUT, bytes to keep), without
    reading the whole file. A torn last line (no \\n) is left out; a last line that is not an
    output line of this command is a PathError."""
    if not output.exists():
        return 0, 0
    with output.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        last = _rfind_newline(f, size)
        if last < 0:
            return 0, 0
        start = _rfind_newline(f, last) + 1
        f.seek(start)
        raw = f.read(last - start)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if not is_output_line(value):
        shown = raw[:60].decode("utf8", "replace") + ("..." if len(raw) > 60 else "")
        raise PathError(
            output,
            _count_lines(output, last + 1),
            f"not an output line of `zh-medner annotate` ({shown!r}): something else wrote to "
            "this file. Annotate from the start with --restart (replaces it), or write to "
            "another OUTPUT",
        )
    return value["line"], last + 1


def last_done_line(output: Path) -> int:
    """The input line answered by the last complete output line (0: none); reads only the end."""
    return read_tail(Path(output))[0]


def _read_sidecar(sidecar: Path, output: Path) -> dict:
    try:
        value = json.loads(sidecar.read_text(encoding="utf8"))
    except (OSError, ValueError) as e:
        value, why = None, getattr(e, "strerror", None) or str(e)
    else:
        why = "not a resume record"
    if (
        not isinstance(value, dict)
        or value.get("format") != SIDECAR_FORMAT
        or not isinstance(value.get("input"), dict)
        or not isinstance(value.get("options"), dict)
    ):
        raise PathError(
            sidecar,
            None,
            f"cannot be read ({why}), so {output} cannot be resumed. Annotate from the start "
            "with --restart (replaces both), or write to another OUTPUT",
        )
    return value


def _differences(old: dict, new: dict, input_path: Path) -> list[str]:
    out = []
    if old["input"].get("sha256") != new["input"]["sha256"]:
        out.append(
            f"the input changed since it was started (it was {old['input'].get('path')}, "
            f"{old['input'].get('bytes')} bytes, SHA-256 {str(old['input'].get('sha256'))[:12]}; "
            f"{input_path} has {new['input']['bytes']} bytes, "
            f"SHA-256 {new['input']['sha256'][:12]})"
        )
    for key, value in new["options"].items():
        if old["options"].get(key) != value:
            name = OPTION_NAMES.get(key, key)
            out.append(f"{name} was {old['options'].get(key)!r}, now {value!r}")
    return out


def plan_run(input_path: Path, output_path: Path, options: dict, restart: bool = False) -> Plan:
    """Check the paths and whether OUTPUT can be resumed; read-only (see `start_run`).

    Raises PathError (file, line where known, and the fix): a missing or unreadable input, an
    OUTPUT that is the input (through links too), a folder, read-only, or that belongs to
    another input or other options, a sidecar that is the input, a foreign last output line.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    sidecar = sidecar_path(output_path)
    check_input(input_path)
    check_output(output_path, [input_path])
    check_output(sidecar, [input_path])
    check_output(lock_path(output_path), [input_path])
    for path in (output_path, sidecar):
        if path.exists():
            try:  # open for writing without changing it: a read-only file fails here
                path.open("r+b").close()
            except OSError as e:
                raise PathError(
                    path,
                    None,
                    f"cannot write it ({e.strerror}): make it writable (chmod u+w) or write "
                    "to another OUTPUT",
                ) from None
    sha, size, lines = _digest_and_lines(input_path)
    fingerprint = {
        "format": SIDECAR_FORMAT,
        "command": "zh-medner annotate",
        "input": {"path": str(input_path.resolve()), "bytes": size, "sha256": sha},
        "options": dict(options),
    }
    common = dict(input_path=input_path, output_path=output_path, fingerprint=fingerprint)
    common.update(lines=lines, restart=restart)
    started = output_path.exists() and output_path.stat().st_size > 0
    if restart or not started:
        return Plan(**common, done=0, keep=0, write_sidecar=True)
    if not sidecar.exists():
        raise PathError(
            output_path,
            None,
            f"exists and has no {sidecar.name} beside it, so it cannot be resumed (it was not "
            "written by this version of `zh-medner annotate`). Annotate from the start with "
            "--restart (replaces it), or write to another OUTPUT",
        )
    old = _read_sidecar(sidecar, output_path)
    diffs = _differences(old, fingerprint, input_path)
    if diffs:
        raise PathError(
            output_path,
            None,
            f"cannot resume: {'; '.join(diffs)}. Annotate from the start with --restart "
            "(replaces it), or write to another OUTPUT",
        )
    done, keep = read_tail(output_path)
    if done > lines:
        raise PathError(
            output_path,
            None,
            f"its last line answers input line {done}, but {input_path} has {lines} lines. "
            "Annotate from the start with --restart, or write to another OUTPUT",
        )
    return Plan(**common, done=done, keep=keep, write_sidecar=False)


def start_run(plan: Plan) -> None:
    """Remove OUTPUT for a restart, then write the sidecar (atomically).

    In this order a crash at any point leaves either the old run or no OUTPUT, and a missing
    OUTPUT is a fresh start; never an OUTPUT with a sidecar that is not its own.
    """
    output, sidecar = plan.output_path, sidecar_path(plan.output_path)
    try:
        if plan.restart and os.path.lexists(output):
            output.unlink()
    except OSError as e:
        raise PathError(output, None, f"cannot remove it for --restart ({e.strerror})") from None
    if plan.write_sidecar:
        text = json.dumps(plan.fingerprint, ensure_ascii=False, indent=1) + "\n"
        try:
            write_text_atomic(sidecar, text)
        except OSError as e:
            raise PathError(
                sidecar,
                None,
                f"cannot write it ({e.strerror}): OUTPUT's folder {sidecar.parent} must be "
                "writable, or write to another OUTPUT",
            ) from None


# ------------------------------------------------------------------ the file runner


def check_run_options(batch_size: int, n_process: int = 1) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--batch-size must be 1 or more, got {batch_size!r}")
    if not isinstance(n_process, int) or n_process < 1:
        raise ValueError(f"--processes must be 1 or more, got {n_process!r}")


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
) -> dict[str, int]:
    """Annotate INPUT_PATH into OUTPUT_PATH, resuming after what OUTPUT_PATH already holds.

    `plan` is what `plan_run` + `start_run` decided before the pipeline loaded (the command does
    that to refuse early); without it they run here. With `n_process` > 1 call `use_processes`
    before loading the pipeline.
    """
    check_run_options(batch_size, n_process)
    input_path, output_path = Path(input_path), Path(output_path)
    options = run_options(text_key, id_key, encoding, nlp_fingerprint(nlp))
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


def _annotate_plan(nlp, plan: Plan, batch_size, on_error, progress, n_process) -> dict[str, int]:
    """The run itself, under the output's lock."""
    input_path, output_path = plan.input_path, plan.output_path
    text_key, id_key = plan.options["text_key"], plan.options["id_key"]
    encoding = plan.options["encoding"]
    attrs = context_attrs(nlp)
    counts = {"skipped": plan.done, "annotated": 0, "errors": 0}
    records = read_input(input_path, text_key, encoding, after=plan.done)
    items = (((n, r), r[text_key] if r else None, error) for n, r, error in records)
    try:
        fout = output_path.open("ab")
        fout.truncate(plan.keep)
    except OSError as e:
        raise PathError(output_path, None, f"cannot write it ({e.strerror})") from None
    with fout:
        unsynced, reported, line_no = 0, plan.done, plan.done

        def sync() -> None:
            nonlocal reported
            fout.flush()
            os.fsync(fout.fileno())
            if progress and line_no > reported:
                progress(line_no - reported)  # input lines, counting those inside a record
                reported = line_no

        try:
            for (line_no, record), doc, error in pipe_items(nlp, items, batch_size, n_process):
                if error is None:
                    out = {"line": line_no, "entities": doc_to_entities(doc, attrs)}
                    if id_key and id_key in record:
                        out = {id_key: record[id_key], **out}
                    counts["annotated"] += 1
                else:
                    out = {"line": line_no, "error": error}
                    counts["errors"] += 1
                    on_error(line_no, error)
                fout.write(_dumps(out))
                unsynced += 1
                if unsynced >= batch_size:
                    sync()
                    unsynced = 0
            line_no = max(line_no, plan.lines)  # blank or continued lines at the end
            sync()
        except OSError as e:
            if e.filename and Path(e.filename) != output_path:
                raise
            raise PathError(output_path, None, f"cannot write it ({e.strerror})") from None
    return counts
