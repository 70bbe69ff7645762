"""Another process holding an output's lock (zh_medner/locking.py), as a running command does."""

import contextlib
import signal
import subprocess
import sys

HOLD = """
import sys, time
from zh_medner.locking import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def lock_holder(output):
    """A process holding OUTPUT's lock for the `with` block; yields it (its pid names it)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(output)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def dead_holder_lock(output) -> int:
    """Leave OUTPUT's lock file behind a process that was killed while holding it; its pid."""
    with lock_holder(output) as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return proc.pid
