"""Pretraining never writes into an existing folder unless asked, replaces OUTPUT only at the end
(never with a diverged model), holds OUTPUT's lock, and refuses bad arguments before it reads
any text (zh_medner/encoder/pretrain_setup.py, scripts/pretrain_encoder.py)."""

import os
import subprocess
import sys

import pytest
import torch

from zh_medner.encoder import objective as O
from zh_medner.encoder import pretrain as P
from zh_medner.encoder import streams as S
from zh_medner.encoder.text import PretrainTextError, TextSource
from zh_medner.io import PathError

from .conftest import ROOT
from .lock_holder import lock_holder
from .test_encoder_pretrain import TINY, text_file  # noqa: F401 (a fixture)

QUICK = dict(checkpoint_minutes=0.02, threads=1, log=lambda m: None, progress_bar=False)


@pytest.fixture(scope="module")
def text(text_file):  # noqa: F811 (the imported fixture)
    """About 60,000 characters of clinical text (test_encoder_pretrain.py's)."""
    return text_file


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def mine(folder):
    """A user's encoder folder that no run was asked to replace."""
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "vocab.txt", "README.md"):
        (folder / name).write_bytes(f"the user's {name}".encode())
    return snapshot(folder)


def run(text, out, minutes=0.04, **kwargs):
    return P.pretrain(
        [TextSource(text)], out, minutes, TINY, cache_dir=out.parent / "c", **QUICK | kwargs
    )


def test_a_new_run_refuses_an_existing_folder_and_leaves_it_alone(text, tmp_path):
    out = tmp_path / "enc"
    before = mine(out)
    with pytest.raises(PretrainTextError, match=r"enc exists: --resume continues its run, --overw"):
        run(text, out)
    assert snapshot(out) == before and sorted(os.listdir(tmp_path)) == ["enc"]


def test_overwrite_replaces_the_output_only_at_the_end_never_after_a_divergence(
    text, tmp_path, monkeypatch
):
    out, partial = tmp_path / "enc", tmp_path / "enc.partial"
    before = mine(out)
    real_loss, calls = O.masked_lm_loss, [0]

    def diverging(model, inputs, labels):
        loss, logits, gold = real_loss(model, inputs, labels)
        calls[0] += model.training
        return (loss * float("nan") if calls[0] > 3 and model.training else loss), logits, gold

    monkeypatch.setattr(O, "masked_lm_loss", diverging)
    with pytest.raises(PretrainTextError, match=r"step 3: the loss is nan: training diverged"):
        run(text, out, overwrite=True)
    assert snapshot(out) == before  # the step-0 export went to OUTPUT.partial
    assert (partial / "model.safetensors").is_file() and (partial / "checkpoint").is_dir()
    monkeypatch.undo()
    seen = []

    def log(message):
        if message.startswith("step"):
            seen.append(snapshot(out) == before)

    progress = run(text, out, resume=True, log=log)
    assert seen and all(seen)  # OUTPUT untouched at every checkpoint of the resumed run
    assert progress.history[0]["step"] == 0 and progress.step > 3
    assert sorted(os.listdir(tmp_path)) == ["c", "enc"]  # no .partial, no old copy left
    card = (out / "README.md").read_text(encoding="utf8")
    assert card.startswith("# enc: ") and "finished" in card
    assert (out / "checkpoint" / "state.pt").is_file()
    from transformers import AutoModelForMaskedLM

    assert AutoModelForMaskedLM.from_pretrained(out).config.num_hidden_layers == 1


def test_resume_continues_a_finished_folder_without_its_vocab_file(text, tmp_path):
    out = tmp_path / "enc"
    first = run(text, out)
    (out / "vocab.txt").unlink()  # the checkpoint carries the vocabulary
    before = snapshot(out / "checkpoint")
    second = run(text, out, minutes=0.06, resume=True)
    assert second.step > first.step and second.history[: len(first.history)] == first.history
    assert (out / "vocab.txt").is_file() and snapshot(out / "checkpoint") != before


def test_a_second_run_on_the_same_output_is_refused(text, tmp_path):
    out = tmp_path / "enc"
    with lock_holder(out) as first:
        with pytest.raises(PathError, match=f"another run is writing it \\(process {first.pid},"):
            run(text, out)
    assert not out.exists() and not (tmp_path / "enc.partial").exists()


@pytest.fixture(scope="module")
def checkpoint(text, tmp_path_factory):
    """A real checkpoint of a finished tiny run."""
    out = tmp_path_factory.mktemp("done") / "enc"
    run(text, out, minutes=0.02)
    return out / "checkpoint" / "state.pt"


def interrupted(tmp_path, state: bytes | None, vocab: bool = True):
    """OUTPUT.partial as an interrupted run leaves it, with this checkpoint."""
    partial = tmp_path / "enc.partial"
    (partial / "checkpoint").mkdir(parents=True)
    (partial / "config.json").write_text("{}", encoding="utf8")
    if vocab:
        (partial / "vocab.txt").write_text("[PAD]\n", encoding="utf8")
    if state is not None:
        (partial / "checkpoint" / "state.pt").write_bytes(state)
    return tmp_path / "enc"


def old_format(checkpoint) -> bytes:
    """A checkpoint of the version before the vocabulary was stored in it."""
    state = torch.load(checkpoint, weights_only=True)
    del state["vocab"]
    path = checkpoint.with_name("old.pt")
    torch.save(state, path)
    return path.read_bytes()


BAD = {
    "garbage checkpoint": ({"resume": True}, "not a readable checkpoint"),
    "truncated checkpoint": ({"resume": True}, "not a readable checkpoint"),
    "no vocab.txt on resume": ({"resume": True}, "a resumed run needs the vocabulary"),
    "nothing to resume": ({"resume": True}, "nothing to resume: neither"),
    "init-from a missing folder": ({"init_from": "missing"}, "--init-from: encoder directory"),
    "arch gpt9": ({"recipe": {"arch": "gpt9"}}, "unknown --arch 'gpt9'"),
    "text weight 0": ({"weight": 0.0}, "the weight must be a positive number"),
    "minutes -1": ({"minutes": -1}, "--minutes must be a number over 0, got -1"),
    "minutes 0": ({"minutes": 0}, "--minutes must be a number over 0, got 0"),
    "resume and overwrite": ({"resume": True, "overwrite": True}, "pick one"),
    "hidden not a multiple of heads": ({"recipe": {"hidden": 33}}, "a multiple of --heads"),
    "output is a file": ({"output_file": True}, "enc: is a file; OUTPUT is a folder"),
    "another run's checkpoint": ({"checkpoint_dir": "ckpt"}, "holds another run's checkpoint"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_arguments_are_refused_before_any_text_is_read(
    text, tmp_path, monkeypatch, checkpoint, case
):
    options, message = BAD[case]
    options = dict(options)
    out = tmp_path / "enc"
    if case == "garbage checkpoint":
        interrupted(tmp_path, b"not a checkpoint at all")
    elif case == "truncated checkpoint":
        interrupted(tmp_path, checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    elif case == "no vocab.txt on resume":
        interrupted(tmp_path, old_format(checkpoint), vocab=False)
    elif options.pop("output_file", False):
        out.write_text("a file", encoding="utf8")
    if "init_from" in options:
        options["init_from"] = tmp_path / options["init_from"]
    if "checkpoint_dir" in options:
        options["checkpoint_dir"] = tmp_path / options["checkpoint_dir"]
        options["checkpoint_dir"].mkdir()
        (options["checkpoint_dir"] / "state.pt").write_bytes(checkpoint.read_bytes())
    recipe = P.Recipe(**{**TINY.__dict__, **options.pop("recipe", {})})
    minutes = options.pop("minutes", 0.02)
    source = TextSource(text, options.pop("weight", 1.0))
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))

    def no_reading(*a, **k):
        raise AssertionError("the text was read before the refusal")

    monkeypatch.setattr(S, "read_source", no_reading)
    with pytest.raises(PretrainTextError, match=message.replace("(", r"\(")):
        P.pretrain([source], out, minutes, recipe, cache_dir=tmp_path / "c", **QUICK | options)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "args,message",
    [
        (["--arch", "gpt9"], "unknown --arch 'gpt9'"),
        (["--minutes", "-1"], "--minutes must be a number over 0"),
        (["--text", "{text}:0"], "the weight must be a positive number"),
        (["--init-from", "{tmp}/missing"], "--init-from: encoder directory not found"),
        (["--resume"], "nothing to resume"),
        (["--card-only"], "not a pretrained folder"),
    ],
)
def test_the_script_refuses_with_a_message_and_no_traceback(text, tmp_path, args, message):
    args = [a.format(text=text, tmp=tmp_path) for a in args]
    if "--text" not in args:
        args += ["--text", str(text)]
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pretrain_encoder.py"), str(tmp_path / "enc")]
        + args,
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSI_COLORS_DISABLED="1"),
    )
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1 and "Traceback" not in said and message in said, said
    assert not (tmp_path / "enc").exists() and not (tmp_path / "enc.partial").exists()


def test_the_project_step_writes_a_new_folder_not_the_shipped_encoder():
    import yaml

    project = yaml.safe_load((ROOT / "project.yml").read_text(encoding="utf8"))
    output = project["vars"]["pretrain_output"]
    assert output != project["vars"]["encoder"]
    if (ROOT / ".git").exists():  # and no folder the repository ships
        tracked = subprocess.run(["git", "ls-files", output], cwd=ROOT, capture_output=True)
        assert tracked.returncode == 0 and not tracked.stdout.strip()
    (step,) = [c for c in project["commands"] if c["name"] == "pretrain-encoder"]
    assert "--overwrite" not in " ".join(step["script"])
