"""Resuming `zh-medner annotate`: where a killed run continues, and whether it may.

A killed run continues after the last complete output line, found by reading OUTPUT backwards
from its end (memory stays bounded on a large output); a torn last line is redone.
OUTPUT + ".resume.json" (the sidecar) holds a fingerprint of the input (SHA-256 of its content)
and of the options that change the output (text key, id key, encoding, and the model: its name,
version and a SHA-256 of its files, model_hash.py): a resume against a changed input, other
options or another model is refused, and `restart=True` starts over. Every refusal is a
PathError naming the file and the fix.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..io import PathError, check_encoding, check_input, check_output, write_text_atomic
from ..locking import lock_path

SIDECAR_SUFFIX = ".resume.json"
SIDECAR_FORMAT = 1
OPTION_NAMES = {
    "text_key": "--text-key",
    "id_key": "--id-key",
    "encoding": "--encoding",
    "model": "the model",
}
RESTART = "Annotate from the start with --restart (replaces it), or write to another OUTPUT"
_BLOCK = 1 << 20


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + SIDECAR_SUFFIX)


def run_options(
    text_key: str, id_key: str | None, encoding: str, model: str, precision: str | None = None
) -> dict[str, str | None]:
    """The options that change what the output says: a resume must use the same."""
    options = {
        "text_key": text_key,
        "id_key": id_key or None,
        "encoding": check_encoding(encoding),
        "model": model,
    }
    if precision is not None:  # sidecars of runs at the model's own precision stay valid
        options["precision"] = precision
    return options


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


def _digest_and_lines(path: Path) -> tuple[str, int, int]:
    """(SHA-256 of the content, size in bytes, number of lines as the reading layer numbers
    them: \\n, \\r\\n and a lone \\r each end one)."""
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
            f"this file. {RESTART}",
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


def _check_paths(input_path: Path, output_path: Path) -> None:
    """The input readable; OUTPUT, its sidecar and its lock writable and none of them the input
    (through links too)."""
    check_input(input_path)
    for path in (output_path, sidecar_path(output_path), lock_path(output_path)):
        check_output(path, [input_path])
    for path in (output_path, sidecar_path(output_path)):
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


def _resume_point(output_path: Path, input_path: Path, fingerprint: dict, lines: int):
    """(done, keep) of a started OUTPUT whose sidecar matches `fingerprint`."""
    sidecar = sidecar_path(output_path)
    if not sidecar.exists():
        raise PathError(
            output_path,
            None,
            f"exists and has no {sidecar.name} beside it, so it cannot be resumed (it was not "
            f"written by this version of `zh-medner annotate`). {RESTART}",
        )
    diffs = _differences(_read_sidecar(sidecar, output_path), fingerprint, input_path)
    if diffs:
        raise PathError(output_path, None, f"cannot resume: {'; '.join(diffs)}. {RESTART}")
    done, keep = read_tail(output_path)
    if done > lines:
        raise PathError(
            output_path,
            None,
            f"its last line answers input line {done}, but {input_path} has {lines} lines. "
            "Annotate from the start with --restart, or write to another OUTPUT",
        )
    return done, keep


def plan_run(input_path: Path, output_path: Path, options: dict, restart: bool = False) -> Plan:
    """Check the paths and whether OUTPUT can be resumed; read-only (see `start_run`).

    Raises PathError (file, line where known, and the fix): a missing or unreadable input, an
    OUTPUT that is the input (through links too), a folder, read-only, or that belongs to
    another input or other options, a sidecar that is the input, a foreign last output line.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    _check_paths(input_path, output_path)
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
    done, keep = _resume_point(output_path, input_path, fingerprint, lines)
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
