"""Reading every text input, and writing outputs so that a failure never leaves a half-written set.

Reading: `read_text` (a whole file) and `iter_lines` (streamed, one line at a time) decode
strictly, UTF-8 by default, and drop a UTF-8 BOM at the start of the file. A file in another
encoding is an `EncodingError` naming file:line and how to convert it. `read_text` keeps line
breaks as they are, because formats that store character offsets (BRAT's .txt, JSON string
values) own them; `iter_lines` ends a line at \\n, \\r\\n or a lone \\r and counts lines the
same way everywhere, so every error's line number is the one an editor shows. JSON Lines are
read on the same lines by zh_medner/jsonl.py.

Errors: `PathError` and its subclasses are the one family of refusals (file, line, fix).

Writing: `write_atomic_all` writes a set of files through temporaries beside them, then renames
them all; if anything fails, every target keeps its old content. `check_input` and
`check_output` refuse bad paths before any work starts.
"""

import bisect
import codecs
import functools
import os
import re
import shlex
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

BOM = "\ufeff"
_LINE_BREAK = re.compile(r"\r\n?|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n?|\n")
# What a line-oriented reader must see unchanged: split on the byte \n, then decoded
_ASCII_PROBE = '\n\r\t {}[]":,.-#*0123456789 TRAEMNabcxyzBIOES'


class PathError(ValueError):
    """The project's error for what it refuses: the file and line where there is one, and what
    to do. Every refusal is one (a subclass), so a command catches one type."""

    def __init__(self, path, line: int | None, message: str):
        self.path = None if path is None else str(path)
        self.line, self.message = line, message
        where = "" if path is None else f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}" if where else message)


class OptionError(PathError):
    """A refused option or setting; the message names it (and a file, where one is involved)
    and the fix."""

    def __init__(self, message: str, path=None, line: int | None = None):
        super().__init__(path, line, message)


class TextInputError(PathError):
    """An input file that cannot be read as what it claims to be."""


class EncodingError(TextInputError):
    """An input file that is not in the expected encoding (callers add their --encoding hint)."""


@functools.cache
def check_encoding(encoding: str) -> str:
    """The codec's canonical name; refuse unknown codecs and ones that are not ASCII-compatible.

    Lines are split on the byte \\n before they are decoded, which is sound for UTF-8, GBK,
    GB18030, Big5 and Shift-JIS (no trail byte is \\n) but not for UTF-16 or UTF-32.
    """
    try:
        name = codecs.lookup(encoding).name
        probe = _ASCII_PROBE.encode(name, errors="replace")
    except LookupError:  # also for codecs that are not text encodings (rot13, base64)
        raise OptionError(
            f"unknown encoding {encoding!r}; use a Python codec name such as utf-8, gbk, "
            "gb18030 or big5"
        ) from None
    if name in ("utf-8", "utf-8-sig"):
        return "utf-8"  # a BOM is dropped either way
    if probe != _ASCII_PROBE.encode("ascii"):
        raise OptionError(
            f"encoding {encoding!r} is not ASCII-compatible; convert the file to UTF-8 first, "
            f"e.g. `iconv -f {encoding.upper()} -t UTF-8 FILE > FILE.utf8`"
        )
    return name


def decode_line(data: bytes, path, encoding: str, line: int) -> str:
    """Strict decoding of bytes that start at `line`; an error names its own line and column."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        breaks = list(_LINE_BREAK_BYTES.finditer(data, 0, e.start))
        column = e.start - (breaks[-1].end() if breaks else 0) + 1
        bad = data[e.start : e.start + 1].hex()
        what = "UTF-8" if encoding == "utf-8" else encoding
        if encoding == "utf-8":
            p = Path(path)
            fixed = p.with_name(f"{p.stem}.utf8{p.suffix}")
            hint = (
                "convert it to UTF-8 first, e.g. if it is GBK: "
                f"`iconv -f GBK -t UTF-8 {shlex.quote(str(p))} > {shlex.quote(str(fixed))}`"
            )
        else:
            hint = "check which encoding the file is in"
        raise EncodingError(
            path,
            line + len(breaks),
            f"not valid {what} (byte 0x{bad} at column {column}: {e.reason}); {hint}",
        ) from None


def _parent_problem(path: Path) -> str | None:
    """Why `path` cannot exist: an ancestor is a file (not a folder)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a folder"
    return None


def check_input(path, folder_ok: bool = False) -> Path:
    """The path of an existing, readable input file (or folder when `folder_ok`)."""
    path = Path(path)
    if not path.exists():
        missing = "no such file or folder" if folder_ok else "no such file"
        problem = _parent_problem(path)
        raise TextInputError(path, None, f"{missing} ({problem})" if problem else missing)
    if path.is_dir() and not folder_ok:
        raise TextInputError(path, None, "is a folder; give a file")
    if not os.access(path, os.R_OK):
        raise TextInputError(path, None, "cannot read it (permission denied)")
    return path


def read_bytes(path) -> bytes:
    path = check_input(path)
    try:
        return path.read_bytes()
    except OSError as e:
        raise TextInputError(path, None, f"cannot read it ({e.strerror})") from None


def has_bom(data: bytes, encoding: str = "utf-8") -> bool:
    return check_encoding(encoding) == "utf-8" and data.startswith(codecs.BOM_UTF8)


def decode_text(data: bytes, path, encoding: str = "utf-8") -> str:
    """A whole file's bytes, decoded strictly; a UTF-8 BOM at the start is dropped."""
    if has_bom(data, encoding):
        data = data[len(codecs.BOM_UTF8) :]
    return decode_line(data, path, check_encoding(encoding), 1)


def read_text(path, encoding: str = "utf-8") -> str:
    """The whole file, decoded strictly; a UTF-8 BOM at the start is dropped, line breaks kept."""
    check_encoding(encoding)
    return decode_text(read_bytes(path), path, encoding)


def binary_lines(path, encoding: str = "utf-8") -> Iterator[tuple[int, bytes]]:
    """(number of the line it starts on, its bytes without the line break) for each line ended
    by b"\\n", streamed; a lone \\r stays inside (`encoding` is ASCII-compatible, so the byte is
    the character) and counts as a line break for the numbering. A UTF-8 BOM at the start of
    the file is dropped."""
    encoding = check_encoding(encoding)
    path = check_input(path)
    try:
        f = path.open("rb")
    except OSError as e:
        raise TextInputError(path, None, f"cannot read it ({e.strerror})") from None
    number = 1
    with f:
        for raw in f:
            if number == 1 and encoding == "utf-8" and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            raw = raw.removesuffix(b"\n").removesuffix(b"\r")  # a \r\n, or a \r ending the file
            yield number, raw
            number += 1 + raw.count(b"\r")


def iter_lines(path, encoding: str = "utf-8", split_cr: bool = True) -> Iterator[tuple[int, str]]:
    """(line number, line without its line break) for each line, streamed.

    A line ends at \\n, \\r\\n or a lone \\r. With `split_cr=False` a lone \\r stays inside
    the line (in JSON Lines it may sit inside a string; zh_medner/jsonl.py reads those), but
    still counts as a line break for the numbering. A UTF-8 BOM at the start of the file is
    dropped.
    """
    encoding = check_encoding(encoding)
    for number, raw in binary_lines(path, encoding):
        text = decode_line(raw, path, encoding, number)
        if split_cr and "\r" in text:
            for i, piece in enumerate(text.split("\r")):
                yield number + i, piece
        else:
            yield number, text


class LineIndex:
    """Line numbers of character offsets in a text, counting \\n, \\r\\n and lone \\r."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def line(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index)


def same_file(a, b) -> bool:
    """True when `a` and `b` name one file, through links or different spellings."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output(path, inputs: Iterable = ()) -> Path:
    """Refuse an output path that is a folder, cannot be created, or is one of the inputs."""
    path = Path(path)
    if path.is_dir():
        raise PathError(path, None, "is a folder; give a file name for the output")
    problem = _parent_problem(path)
    if problem:
        raise PathError(path, None, f"cannot create it: {problem}")
    existing = next(p for p in path.parents if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PathError(path, None, f"cannot write in {existing} (permission denied)")
    for source in inputs:
        if same_file(path, source):
            raise PathError(path, None, f"is an input ({source}); write the output elsewhere")
    return path


def check_outputs(outputs: Iterable, inputs: Iterable = ()) -> None:
    """`check_output` for each output (None skipped): a command calls it before loading a model,
    so a path it cannot write is refused in a second, not after the work."""
    inputs = [i for i in inputs if i is not None]
    for path in outputs:
        if path is not None:
            check_output(path, inputs)


def _write_temp(path: Path, write: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise whoever reads the output
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def write_atomic_all(writers: Mapping[Path, Callable[[Path], None]]) -> None:
    """Write every file or none: each through a temporary beside it, then all renamed in place.

    A failing writer leaves every target as it was. If a rename fails part-way, the targets
    already replaced get their old content back (each was moved aside, not deleted). A target
    that is a folder is refused before anything is written: a folder is never moved aside.
    """
    for path in writers:
        if os.path.isdir(path):
            raise PathError(path, None, "is a folder; give a file name for the output")
    temps: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            temps[Path(path)] = _write_temp(Path(path), write)
        _replace_all(temps)
    finally:
        for tmp in temps.values():
            if os.path.lexists(tmp):
                os.unlink(tmp)


def _replace_all(temps: Mapping[Path, Path]) -> None:
    done: list[tuple[Path, str | None]] = []
    try:
        for path, tmp in temps.items():
            old = None
            if os.path.lexists(path):
                old = f"{tmp}.old"
                os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                if old is not None:
                    os.replace(old, path)
                raise
            done.append((path, old))
    except BaseException:
        for path, old in reversed(done):
            if old is None:
                os.unlink(path)
            else:
                os.replace(old, path)
        raise
    for _, old in done:
        if old is not None:
            os.unlink(old)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename it over `path`."""
    write_atomic_all({Path(path): write})


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf8"))
