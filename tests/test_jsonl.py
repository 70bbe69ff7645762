"""zh_medner/jsonl.py: the one JSON Lines reader. With errors="record" every line is answered
(a bad one as an error that names file and line, and reading goes on); with errors="raise" the
first bad line raises that error."""

import pytest

from zh_medner.io import EncodingError, TextInputError
from zh_medner.jsonl import read_jsonl

LINES = [
    b'\xef\xbb\xbf{"text": "a"}',  # 1: a BOM, dropped
    b"",  # 2: blank
    b'{"text": ',  # 3: invalid
    b'{"n": ' + b"9" * 5000 + b"}",  # 4: past Python's digit limit
    b"[" * 5000 + b"]" * 5000,  # 5: nested past the recursion limit
    '{"text": "咳嗽"}'.encode("gbk"),  # 6: not UTF-8
    b'{"text": "b"}\r{"text": "c\rd"}',  # 7, 8: a lone \r ends a line; in a string it stays
    b'{"text": "e"}',  # 10: the \r inside the string counted as a line break, as editors do
]


@pytest.fixture
def path(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\r\n".join(LINES) + b"\n")
    return path


def test_record_mode_answers_every_line(path):
    items = list(read_jsonl(path, errors="record", skip_blank=False))
    assert [i.line for i in items] == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert [i.value for i in items if i.error is None] == [
        {"text": "a"},
        {"text": "b"},
        {"text": "c\rd"},
        {"text": "e"},
    ]
    errors = {i.line: i.error for i in items if i.error is not None}
    assert all(isinstance(e, TextInputError) and e.path == str(path) for e in errors.values())
    assert errors[2].message.startswith("blank line")
    assert errors[3].message.startswith("invalid JSON: Expecting value (column 10)")
    assert "more than 4300 digits" in errors[4].message
    assert "nested too deeply" in errors[5].message
    assert isinstance(errors[6], EncodingError) and str(errors[6]).startswith(f"{path}:6: not")


def test_record_mode_skips_blank_lines_unless_asked_and_resumes_after_a_line(path):
    assert 2 not in [i.line for i in read_jsonl(path, errors="record")]
    assert [i.line for i in read_jsonl(path, errors="record", after=7)] == [8, 10]


def test_raise_mode_stops_at_the_first_bad_line(path):
    read = read_jsonl(path)
    assert next(read).value == {"text": "a"}
    with pytest.raises(TextInputError, match=r"in.jsonl:3: invalid JSON"):
        next(read)


def test_a_missing_file_is_named_in_both_modes(tmp_path):
    for errors in ("raise", "record"):
        with pytest.raises(TextInputError, match="no such file"):
            list(read_jsonl(tmp_path / "missing.jsonl", errors=errors))
