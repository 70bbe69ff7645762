"""Outputs that cannot be written: another process holding an output's lock
(zh_medner/locking.py), as a running command does, and a read-only file or folder."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys

import pytest

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


@contextlib.contextmanager
def read_only(path):
    """`path` read-only, for root too (root ignores mode bits but not the immutable flag)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if not chattr or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root on a file system without chattr +i: cannot make it read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)
