"""Property tests for pretraining's arguments (zh_medner/encoder/pretrain_setup.py): for random
values of every option, a random --text spec and random states of OUTPUT and OUTPUT.partial,
the run is either refused with a PretrainTextError (never another exception) or accepted with
values that train; and deciding never writes anything."""

import math
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zh_medner.encoder.pretrain import Recipe
from zh_medner.encoder.pretrain_setup import check_arguments, plan_start
from zh_medner.encoder.text import PretrainTextError, TextSource

SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))
NUMBERS = st.one_of(
    st.integers(-3, 600),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 0.0, -1, 1e-9, 1, 2, 3, 64, 512, 513]),
)
RECIPES = st.builds(
    Recipe,
    arch=st.sampled_from(["bert", "roformer", "megatron-bert", "gpt9", "", "BERT"]),
    layers=NUMBERS,
    hidden=NUMBERS,
    heads=NUMBERS,
    intermediate=NUMBERS,
    seq_len=NUMBERS,
    long_seq_len=NUMBERS,
    long_fraction=NUMBERS,
    batch_tokens=NUMBERS,
    lr=NUMBERS,
    mask_prob=NUMBERS,
    min_char_count=NUMBERS,
    heldout_percent=NUMBERS,
    precision=st.sampled_from(["fp32", "bf16", "auto", "int8", "fp16", ""]),
    train_dropout=st.one_of(st.none(), NUMBERS),
)
WEIGHTS = st.one_of(
    st.sampled_from(["", ":0", ":-1", ":nan", ":inf", ":1e-300", ":x", ":3"]),
    st.text(max_size=6).map(lambda t: ":" + t),
)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "notes.txt"
    path.write_text("患者发热三天。\n", encoding="utf8")
    return path


@settings(max_examples=300, **SETTINGS)
@given(recipe=RECIPES, minutes=NUMBERS, ckpt=NUMBERS, threads=NUMBERS, weight=WEIGHTS)
def test_every_argument_is_accepted_or_refused_clearly(
    text_file, recipe, minutes, ckpt, threads, weight
):
    source = TextSource.parse(f"{text_file}{weight}")
    try:
        check_arguments([source], minutes, recipe, ckpt, threads)
    except PretrainTextError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert source.path == text_file and source.weight > 0 and math.isfinite(source.weight)
    assert 0 < minutes < math.inf and 0 < ckpt < math.inf and threads >= 0
    values = asdict(recipe)
    assert recipe.arch in ("bert", "roformer", "megatron-bert")
    assert recipe.hidden % recipe.heads == 0 and 3 <= recipe.seq_len <= recipe.long_seq_len <= 512
    assert 0 < recipe.lr and 0 < recipe.mask_prob < 1 and recipe.min_char_count >= 1
    assert all(math.isfinite(v) for v in values.values() if isinstance(v, int | float))
    integers = ("layers", "hidden", "heads", "intermediate", "seq_len", "long_seq_len")
    assert all(type(values[k]) is int for k in integers + ("batch_tokens", "min_char_count"))


FOLDER = st.sampled_from(["absent", "empty", "files", "a file", "checkpoint", "garbage checkpoint"])


def make(path: Path, state: str) -> None:
    if state == "absent":
        return
    if state == "a file":
        path.write_text("x", encoding="utf8")
        return
    path.mkdir()
    if state in ("files", "checkpoint", "garbage checkpoint"):
        (path / "vocab.txt").write_text("[PAD]\n", encoding="utf8")
    if state in ("checkpoint", "garbage checkpoint"):
        (path / "checkpoint").mkdir()
        (path / "checkpoint" / "state.pt").write_bytes(
            b"\x80\x04garbage" if "garbage" in state else b""
        )


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.is_dir() or p.read_bytes() for p in root.rglob("*")}


@settings(max_examples=150, **SETTINGS)
@given(output=FOLDER, partial=FOLDER, resume=st.booleans(), overwrite=st.booleans())
def test_deciding_where_a_run_writes_writes_nothing(output, partial, resume, overwrite):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make(root / "enc", output)
        make(root / "enc.partial", partial)
        before = snapshot(root)
        try:
            start = plan_start(root / "enc", resume, overwrite, None)
        except PretrainTextError as e:
            assert str(e)
        else:
            assert not (resume and overwrite)
            if not resume and not overwrite:
                assert output in ("absent", "empty") and partial == "absent"
            if resume:
                assert start.state is not None and start.vocab
        assert snapshot(root) == before
