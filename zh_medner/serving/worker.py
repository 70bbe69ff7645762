"""The one pipeline thread behind the service: a bounded queue, work for a client that has gone
dropped, and a time limit per request.

spaCy pipelines and torch modules are not documented as thread-safe, so requests run one at
a time on one thread. Without a bound, requests pile up behind that thread: a client that gave
up after a second still had its 48,000 characters annotated, and every request after it waited.

- At most `max_queue` requests wait behind the running one; a request beyond that gets 503 with
  `Retry-After` (seconds, estimated from recent requests), at once.
- While a request waits or runs, the event loop checks every `POLL` seconds whether its client
  is still connected. When it has gone, the job is cancelled: a job that has not started is
  skipped, and a running one stops at its next chunk of texts (`Job.chunks`: about
  `CHUNK_CHARS` characters, at least one text; so a stop waits at most for the text in
  progress, about a second for 10,000 characters on 2 CPU cores).
- A running job past `time_limit` seconds stops the same way, and its request gets 503.
"""

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from fastapi import HTTPException, Request

POLL = 0.1  # seconds between checks that a waiting client is still connected
CHUNK_CHARS = 2_000  # characters of text between two checks in a running job
CLIENT_GONE = 499  # nginx's "client closed request": logged, never seen by anyone


class Cancelled(Exception):
    """The client has gone: nobody will read the result."""


class OverTime(Exception):
    """The job ran past the time limit."""


class Job:
    """One request's work, as the pipeline thread sees it."""

    def __init__(self, time_limit: float):
        self.cancelled = threading.Event()
        self.time_limit = time_limit
        self.deadline = math.inf

    def start(self) -> None:
        self.check()
        self.deadline = time.monotonic() + self.time_limit

    def check(self) -> None:
        """Raise if the client has gone or the time is up: called between chunks."""
        if self.cancelled.is_set():
            raise Cancelled()
        if time.monotonic() > self.deadline:
            raise OverTime()

    def chunks(self, texts: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
        """(index of the first text, texts) of about CHUNK_CHARS characters (at least one
        text), checking the job before each."""
        start, size = 0, 0
        for i, text in enumerate(texts):
            if i > start and size + len(text) > CHUNK_CHARS:
                self.check()
                yield start, list(texts[start:i])
                start, size = i, 0
            size += len(text)
        if start < len(texts):
            self.check()
            yield start, list(texts[start:])


class Worker:
    """One thread for the pipeline, with a bounded queue in front of it."""

    def __init__(self, max_queue: int, time_limit: float):
        self.max_queue, self.time_limit = max_queue, time_limit
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zh-medner-nlp")
        self.pending = 0  # requests submitted and not finished (the event loop's count)
        self.durations: deque[float] = deque(maxlen=20)

    def retry_after(self) -> int:
        """Seconds until the queue has likely room again: recent requests' mean time each."""
        mean = sum(self.durations) / len(self.durations) if self.durations else 1.0
        return max(1, math.ceil(mean * max(1, self.pending - self.max_queue)))

    def _call(self, job: Job, func: Callable, args: tuple):
        job.start()  # a job whose client left while it waited is skipped here
        started = time.monotonic()
        try:
            return func(job, *args)
        finally:
            self.durations.append(time.monotonic() - started)

    def _finished(self, future) -> None:
        self.pending -= 1
        if not future.cancelled():
            future.exception()  # retrieved: a dropped job's Cancelled is not logged as lost

    async def run(self, request: Request, func: Callable, *args):
        """func(job, *args) on the pipeline thread; 503 when the queue is full or time is up,
        499 (logged only) when the client has gone."""
        if self.pending > self.max_queue:
            raise HTTPException(
                503,
                f"busy: {self.max_queue} requests are waiting already (--max-queue); retry later",
                headers={"Retry-After": str(self.retry_after())},
            )
        job = Job(self.time_limit)
        future = asyncio.get_running_loop().run_in_executor(
            self.executor, self._call, job, func, args
        )
        self.pending += 1
        future.add_done_callback(self._finished)
        while not future.done():
            await asyncio.wait({future}, timeout=POLL)
            if not future.done() and await request.is_disconnected():
                job.cancelled.set()
                raise HTTPException(CLIENT_GONE, "the client closed the connection: work dropped")
        try:
            return future.result()
        except OverTime:
            raise HTTPException(
                503,
                f"the request took longer than the time limit of {self.time_limit:g} s "
                "(--time-limit): send fewer or shorter texts",
            ) from None

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
