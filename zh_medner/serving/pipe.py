"""Texts through the pipeline: the one place every serving command runs `nlp.pipe`.

`pipe_items` keeps a bad text from costing the others: a batch the pipeline fails on is
retried one text at a time, so only the text that fails becomes an error. The file runner
(batch.py), the HTTP service (api.py), pre-annotation (preannotate.py) and `annotate_batch`,
the unit of work for a data engine (a Dask bag's `map_partitions`, a Ray Data
`map_batches`, a Spark pandas UDF), all use it.
"""

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from .schema import context_keys, entity_dicts


class _SourceError(Exception):
    """An exception of the input iterator, kept apart from the pipeline's own failures."""


def _failure(e: Exception) -> str:
    first = (str(e).strip().splitlines() or [""])[0]
    detail = f"{type(e).__name__}: {first[:300]}" if first else type(e).__name__
    return f"the pipeline failed on this record ({detail})"


def _too_long(text: str, nlp: Language) -> str:
    return (
        f"text of {len(text)} characters, over the pipeline's max_length of "
        f"{nlp.max_length}: split the record into shorter texts"
    )


def _one_by_one(nlp: Language, pending: list[tuple]) -> Iterator[tuple]:
    """The items a failed batch had taken, each alone: only a text that fails is an error."""
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
                text, error = None, _too_long(text, nlp)
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
            yield from _one_by_one(nlp, pending)
            continue
        while waiting:
            key, _, error = waiting.popleft()
            yield key, None, error
        return


def annotate_texts(
    nlp: Language, texts: Iterable[str], batch_size: int = 64
) -> Iterator[list[dict]]:
    """Entities for each text, in order (schema.py); a text the pipeline cannot take is a
    ValueError that names its index (the other texts of its batch are not lost)."""
    keys = context_keys(nlp)
    items = ((i, t, None if isinstance(t, str) else "not a string") for i, t in enumerate(texts))
    for i, doc, error in pipe_items(nlp, items, batch_size):
        if error:
            raise ValueError(f"texts[{i}]: {error}")
        yield entity_dicts(doc, keys)


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
