"""Batch annotation: JSONL records in, JSONL records with entities out.

Each output line names the input line it answers (`line`), so a run that was
killed resumes after the last complete output line: no record is lost or written
twice. A malformed input line gets an output line with its `error` and the run
goes on. Memory stays bounded: input is streamed and written batch by batch.

`annotate_texts` is the one function that turns texts into output records; the
file runner and `annotate_batch`, the unit of work for a data engine (a Dask bag's
`map_partitions`, a Ray Data `map_batches`, a Spark pandas UDF), both call it.
"""

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from ..components.context import EXTENSIONS, SPANS_KEY

# Span extensions of the clinical context -> keys in the output
CONTEXT_KEYS = {ext: "negated" if ext == "negex" else ext for ext in EXTENSIONS.values()}


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
        if ent.ent_id_:
            item["id"] = ent.ent_id_
        out.append(item)
    return out


def doc_to_record(doc: Doc, attrs: list[tuple[str, str]]) -> dict:
    """One doc as the service returns it: every key always present.

    A context key is null where the pipeline does not set it (no `zh_context`), and `id` is
    null where no dictionary entry names the entity. `spans` is `doc.spans["sc"]` (nested
    entities included) when the pipeline writes it, else empty.
    """
    set_keys = {key for _, key in attrs}
    ents = []
    for item in doc_to_entities(doc, attrs):
        for key in CONTEXT_KEYS.values():
            if key not in set_keys:
                item[key] = None
        item.setdefault("id", None)
        ents.append(item)
    spans = [
        {"start": s.start_char, "end": s.end_char, "label": s.label_, "text": s.text}
        for s in doc.spans.get(SPANS_KEY, [])
    ]
    return {"text": doc.text, "ents": ents, "spans": spans}


def annotate_texts(
    nlp: Language, texts: Iterable[str], batch_size: int = 64
) -> Iterator[list[dict]]:
    """Entities for each text, in order."""
    attrs = context_attrs(nlp)
    for doc in nlp.pipe(texts, batch_size=batch_size):
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


def parse_line(raw: str, line_no: int, text_key: str) -> tuple[dict | None, str | None]:
    """(record, None) for a usable line, (None, error) for a malformed one."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} (column {e.colno})"
    if not isinstance(record, dict):
        return None, "a record must be a JSON object"
    if not isinstance(record.get(text_key), str):
        return None, f"missing or non-string '{text_key}'"
    return record, None


def last_done_line(output: Path) -> int:
    """The input line answered by the last complete output line; drops a torn last line."""
    if not output.exists():
        return 0
    with output.open("rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1  # keep only complete lines
        if end < len(data):
            f.truncate(end)
        if end == 0:
            return 0
        start = data.rfind(b"\n", 0, end - 1) + 1
        return int(json.loads(data[start:end])["line"])


def annotate_file(
    nlp: Language,
    input_path: Path,
    output_path: Path,
    text_key: str = "text",
    id_key: str | None = "id",
    batch_size: int = 64,
    on_error: Callable[[int, str], None] = lambda line, error: None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Annotate INPUT_PATH into OUTPUT_PATH, resuming after what OUTPUT_PATH already holds."""
    done = last_done_line(output_path)
    counts = {"skipped": 0, "annotated": 0, "errors": 0}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with input_path.open(encoding="utf8") as fin, output_path.open("a", encoding="utf8") as fout:
        pending: list[tuple[int, dict]] = []

        def flush() -> None:
            texts = (record[text_key] for _, record in pending)
            for (line_no, record), ents in zip(pending, annotate_texts(nlp, texts, batch_size)):
                out = {"line": line_no, "entities": ents}
                if id_key and id_key in record:
                    out = {id_key: record[id_key], **out}
                fout.write(json.dumps(out, ensure_ascii=False) + "\n")
                counts["annotated"] += 1
            fout.flush()
            os.fsync(fout.fileno())
            if progress:
                progress(len(pending))
            pending.clear()

        for line_no, raw in enumerate(fin, 1):
            if line_no <= done:
                counts["skipped"] += 1
                continue
            if not raw.strip():
                continue
            record, error = parse_line(raw, line_no, text_key)
            if error:
                flush()  # keep output in input order
                fout.write(json.dumps({"line": line_no, "error": error}, ensure_ascii=False) + "\n")
                counts["errors"] += 1
                on_error(line_no, error)
                continue
            pending.append((line_no, record))
            if len(pending) >= batch_size:
                flush()
        flush()
    return counts
