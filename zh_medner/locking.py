"""One writer per output: a lock file beside it, held for the whole run.

`output_lock(OUTPUT)` holds OUTPUT.lock, a filelock `SoftFileLock`: the file records the PID,
host and start time of the process that holds it, and is removed when the run ends. A second
run on the same OUTPUT is refused at once (`OutputLocked`), naming the first run's PID. A lock
left behind by a run that died (its PID is gone, or belongs to a newer process) is taken over,
so a crash never blocks the output; only a holder on another host (a shared file system) cannot
be checked, and the message says how to clear it. Within one process the lock is re-entrant:
a command that holds it can call a library function that takes it again.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import SoftFileLock, Timeout

from .io import PathError

LOCK_SUFFIX = ".lock"


class OutputLocked(PathError):
    """Another run is writing this output."""


def lock_path(output) -> Path:
    output = Path(output)
    return output.with_name(output.name + LOCK_SUFFIX)


@contextlib.contextmanager
def output_lock(output) -> Iterator[Path]:
    """Hold OUTPUT.lock for the `with` block; raise OutputLocked if another run holds it."""
    path = lock_path(output).absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PathError(path, None, f"cannot create its folder ({e.strerror})") from None
    lock = SoftFileLock(str(path), timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        pid = lock.pid
        holder = f"process {pid}" if pid else "another process"
        raise OutputLocked(
            output,
            None,
            f"another run is writing it ({holder}, lock file {path}): wait for that run to end, "
            f"or write to another OUTPUT. If {holder} is not running (a run on another machine "
            f"that died), delete {path}",
        ) from None
    except OSError as e:
        raise PathError(
            path, None, f"cannot create the lock file ({e.strerror}): make its folder writable"
        ) from None
    try:
        yield path
    finally:
        lock.release()
