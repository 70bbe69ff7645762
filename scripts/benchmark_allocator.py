"""Time one command under each glibc allocator setting: wall seconds and peak RSS.

    python scripts/benchmark_allocator.py [--setting default] [--setting MALLOC_TRIM_THRESHOLD_=0]
        [--repeats 1] [--output FILE.json] -- COMMAND [ARGS ...]

A setting is `default` (no MALLOC_* variable: glibc's own behaviour) or NAME=VALUE pairs joined
by commas, added to the environment of the command. The settings take turns, so a drift in the
machine's speed falls on all of them; the fastest run of each counts.

Why it exists: the training steps ran under MALLOC_TRIM_THRESHOLD_=0, which returns freed memory
to the OS at once. Setting it also freezes glibc's mmap threshold at 128 kB, so every larger
tensor is mapped and unmapped again on every step, and the kernel zeroes its pages each time:
docs/results.md measures what that costs a training step and what it saves in memory.
Timings belong here, never in unit tests.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import typer

DEFAULT = "default"


def environment(setting: str) -> dict:
    """The command's environment under `setting`: every MALLOC_* variable of ours removed,
    then the setting's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    if setting == DEFAULT:
        return env
    for pair in setting.split(","):
        name, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not name.startswith("MALLOC_"):
            raise typer.BadParameter(
                f"{pair!r}: a setting is 'default' or MALLOC_NAME=VALUE pairs joined by commas"
            )
        env[name] = value
    return env


def run_once(command: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit status) of one run of the command."""
    t0 = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, child.returncode


def main(
    command: list[str] = typer.Argument(..., help="the command to time, after --"),
    settings: list[str] = typer.Option(
        [DEFAULT, "MALLOC_TRIM_THRESHOLD_=0"], "--setting", help="default, or NAME=VALUE,..."
    ),
    repeats: int = typer.Option(1, "--repeats", min=1, help="runs per setting; the fastest counts"),
    output: Path | None = typer.Option(None, "--output", help="also write the rows as JSON"),
):
    """Print one row per setting: the fastest wall seconds, its peak RSS, and the ratio to the
    first setting."""
    from wasabi import msg

    from zh_medner.io import write_text_atomic

    envs = {s: environment(s) for s in settings}  # every setting checked before any run
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for setting, env in envs.items():
            seconds, rss, status = run_once(command, env)
            if status != 0:
                msg.fail(f"the command failed (exit {status}) under {setting}", exits=1)
            if setting not in best or seconds < best[setting][0]:
                best[setting] = (seconds, rss)
    first = best[settings[0]][0]
    rows = [
        {
            "setting": s,
            "seconds": round(t, 1),
            "peak_rss_mb": round(m),
            "vs_first": round(t / first, 2),
        }
        for s, (t, m) in best.items()
    ]
    msg.table(
        [list(r.values()) for r in rows],
        header=["setting", "wall s", "peak RSS MB", f"x {settings[0]}"],
        divider=True,
    )
    if output is not None:
        report = {"command": command, "repeats": repeats, "rows": rows}
        write_text_atomic(output, json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    typer.run(main)
