"""One writer per output (zh_medner/locking.py): a second run is refused and told the first
run's PID; a lock left by a run that died does not block; the lock is re-entrant in a process."""

import pytest

from zh_medner.locking import OutputLocked, lock_path, output_lock

from .lock_holder import dead_holder_lock, lock_holder


def test_a_second_writer_is_refused_with_the_first_ones_pid(tmp_path):
    out = tmp_path / "out.jsonl"
    with lock_holder(out) as first:
        with pytest.raises(
            OutputLocked, match=rf"another run is writing it \(process {first.pid},"
        ):
            with output_lock(out):
                pass
    with output_lock(out):  # free again once the first run has ended
        assert lock_path(out).exists()
    assert not lock_path(out).exists()


def test_a_lock_left_by_a_dead_run_does_not_block(tmp_path):
    out = tmp_path / "out.jsonl"
    dead_holder_lock(out)
    assert lock_path(out).exists()
    with output_lock(out):
        pass
    assert not lock_path(out).exists()


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    out = tmp_path / "sub" / "out.json"
    with output_lock(out), output_lock(tmp_path / "sub" / ".." / "sub" / "out.json"):
        assert lock_path(out).exists()
    assert not lock_path(out).exists()
