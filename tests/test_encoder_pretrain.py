"""scripts/pretrain_encoder.py and zh_medner/encoder/pretrain.py on a tiny text: it learns, saves a
Hugging Face folder that transformers and spaCy load, resumes, and refuses bad input clearly."""

import json
import lzma
import subprocess
import sys

import pytest
import srsly

from zh_medner.encoder.pretrain import Recipe, learning_rate, pretrain, window_length
from zh_medner.encoder.text import PretrainTextError, TextSource, is_heldout

from .conftest import ROOT

TINY = Recipe(
    layers=1,
    hidden=32,
    heads=2,
    intermediate=64,
    seq_len=32,
    long_seq_len=64,
    batch_tokens=512,
    lr=3e-3,
    min_char_count=1,
    heldout_percent=5.0,
    word2vec=False,
    whole_word=False,
)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    """About 60,000 characters of clinical text: the embedded corpus, as .txt.xz."""
    tasks = json.loads((ROOT / "assets" / "default_corpus.label_studio.json").read_text("utf8"))
    path = tmp_path_factory.mktemp("text") / "notes.txt.xz"
    with lzma.open(path, "wt", encoding="utf8") as f:
        for task in tasks:
            f.write(task["data"]["text"].replace("\n", " ") + "\n")
    return path


@pytest.fixture(scope="module")
def trained(text_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("enc") / "tiny"
    progress = pretrain(
        [TextSource(text_file)],
        out,
        0.25,
        TINY,
        cache_dir=out.parent / "cache",
        checkpoint_minutes=0.05,
        threads=1,
        log=lambda m: None,
        progress_bar=False,
    )
    return out, progress


def test_loss_falls_and_accuracy_is_measured(trained):
    _, progress = trained
    losses = [h["loss"] for h in progress.history if h["loss"] is not None]
    assert len(losses) >= 3 and losses[-1] < losses[0]
    assert all(0.0 <= h["heldout_top1"] <= 1.0 for h in progress.history)


def test_folder_loads_with_transformers_and_spacy_transformers(trained):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    out, _ = trained
    model = AutoModelForMaskedLM.from_pretrained(out)
    assert model.config.num_hidden_layers == 1
    assert AutoTokenizer.from_pretrained(out).tokenize("发热hba1c") == [
        "发",
        "热",
        "h",
        "##b",
        "##a",
        "##1",
        "##c",
    ]
    card = (out / "README.md").read_text("utf8")
    assert "held-out masked-character top-1" in card and "finished" in card
    import spacy

    nlp = spacy.blank("zh")
    nlp.add_pipe("transformer", config={"model": {"name": str(out)}})
    nlp.initialize()
    assert nlp("患者发热三天")._.trf_data.model_output.last_hidden_state.shape[-1] == 32


def test_resume_continues_from_the_checkpoint(trained, text_file):
    out, before = trained
    after = pretrain(
        [TextSource(text_file)],
        out,
        0.35,
        TINY,
        cache_dir=out.parent / "cache",
        resume=True,
        checkpoint_minutes=0.05,
        threads=1,
        log=lambda m: None,
        progress_bar=False,
    )
    assert after.step > before.step and after.tokens > before.tokens
    assert after.history[: len(before.history)] == before.history


def test_heldout_lines_never_reach_training(text_file, tmp_path):
    lines = lzma.open(text_file, "rt", encoding="utf8").read().splitlines()
    held = [line for line in lines if is_heldout(line.strip(), 0, 5.0)]
    assert 0 < len(held) < len(lines) * 0.2
    assert is_heldout(held[0].strip(), 0, 5.0) and not is_heldout(held[0].strip(), 1, 0.0)


def test_schedule_warms_up_decays_and_switches_to_long_windows():
    r = Recipe(lr=1e-3, warmup_fraction=0.1, long_fraction=0.2)
    assert learning_rate(r, 0, 100) == 0 and learning_rate(r, 10, 100) == pytest.approx(1e-3)
    assert learning_rate(r, 55, 100) == pytest.approx(5e-4) and learning_rate(r, 100, 100) == 0
    assert window_length(r, 79, 100) == r.seq_len and window_length(r, 81, 100) == r.long_seq_len


@pytest.mark.parametrize(
    "content,message", [(None, "not found"), ("\n  \n", "no text to train on")]
)
def test_missing_or_empty_input_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "notes.txt"
    if content is not None:
        path.write_text(content, encoding="utf8")
    with pytest.raises(PretrainTextError, match=message):
        pretrain(
            [TextSource(path)],
            tmp_path / "out",
            0.1,
            TINY,
            cache_dir=tmp_path / "c",
            log=lambda m: None,
        )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "pretrain_encoder.py"),
            str(tmp_path / "o"),
            "--text",
            str(path),
            "--minutes",
            "0.1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and message in " ".join(result.stdout.split())


def test_non_utf8_line_is_named(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("发热\n".encode() + "咳嗽\n".encode("gbk"))
    with pytest.raises(PretrainTextError, match=r"gbk.txt:2: not UTF-8.*iconv -f GBK"):
        pretrain(
            [TextSource(path)],
            tmp_path / "out",
            0.1,
            TINY,
            cache_dir=tmp_path / "c",
            log=lambda m: None,
        )


def test_history_file_is_json(trained):
    out, _ = trained
    assert srsly.read_json(out / "pretraining.json")["recipe"]["layers"] == 1
