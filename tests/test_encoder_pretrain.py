"""scripts/pretrain_encoder.py and zh_medner/encoder/pretrain.py on a tiny text: it learns, saves a
Hugging Face folder that transformers and spaCy load, resumes, and refuses bad input clearly."""

import json
import lzma
import subprocess
import sys

import numpy as np
import pytest
import srsly

from zh_medner.encoder.pretrain import Recipe, batch_key, learning_rate, pretrain, window_length
from zh_medner.encoder.pretrain_setup import Start, check_extras
from zh_medner.encoder.recipe import read_recipe, with_overrides
from zh_medner.encoder.streams import load_streams
from zh_medner.encoder.text import PretrainTextError, TextSource, is_heldout
from zh_medner.encoder.vocab import SEP

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


def test_a_modernbert_recipe_learns_and_its_tokenizer_gives_what_its_model_takes(
    text_file, tmp_path
):
    """The "cramming" shape (ModernBERT: pre-LN, GLU, no biases): it trains, loads with
    transformers, and its tokenizer gives no token type ids, which ModernBERT's forward lacks."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    out = tmp_path / "modernbert"
    recipe = with_overrides(TINY, arch="modernbert", mask_prob=0.25, train_dropout=0.0)
    progress = pretrain(
        [TextSource(text_file)], out, 0.1, recipe, cache_dir=tmp_path / "cache",
        checkpoint_minutes=0.03, threads=1, log=lambda m: None, progress_bar=False,
    )  # fmt: skip
    losses = [h["loss"] for h in progress.history if h["loss"] is not None]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    model = AutoModelForMaskedLM.from_pretrained(out)
    assert model.config.model_type == "modernbert" and not model.config.mlp_bias
    batch = AutoTokenizer.from_pretrained(out)(["患者发热三天"], return_tensors="pt")
    assert sorted(batch) == ["attention_mask", "input_ids"]
    assert model(**batch).logits.shape[-1] == model.config.vocab_size


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


def test_a_continued_run_keeps_the_earlier_stage(trained, text_file, tmp_path):
    """--init-from: the new folder's record and card carry the stage it continued, so the card
    counts every token the weights have seen."""
    first, _ = trained
    before = srsly.read_json(first / "pretraining.json")["progress"]  # resumed by another test
    out = tmp_path / "stage2"
    after = pretrain(
        [TextSource(text_file)], out, 0.05, TINY, init_from=first, cache_dir=tmp_path / "cache",
        threads=1, log=lambda m: None, progress_bar=False,
    )  # fmt: skip
    record = srsly.read_json(out / "pretraining.json")
    (stage,) = record["progress"]["stages"]
    assert stage["folder"] == str(first) and stage["tokens"] == before["tokens"] > 0
    assert stage["heldout_top1"] == before["history"][-1]["heldout_top1"]
    card = (out / "README.md").read_text("utf8")
    assert "## Stages" in card and f"{before['tokens'] + after.tokens:,} in all 2 stages" in card


def test_a_continued_stage_draws_other_batches_and_a_first_stage_reproduces():
    assert batch_key(0, 7, 0) == [0, 7]
    first, second, third = (np.random.default_rng(batch_key(0, 7, n)).random(4) for n in range(3))
    assert not np.allclose(first, second) and not np.allclose(second, third)


def test_heldout_lines_never_reach_training(text_file, tmp_path):
    """The training streams (all that training windows are cut from) hold no held-out line, and
    the held-out stream holds exactly the held-out lines."""
    from transformers import BertTokenizerFast

    lines = [x.strip() for x in lzma.open(text_file, "rt", encoding="utf8") if x.strip()]
    held = [x for x in lines if is_heldout(x, TINY.seed, TINY.heldout_percent)]
    assert 0 < len(held) < len(lines) * 0.2
    vocab, streams = load_streams([TextSource(text_file)], [0], TINY, None, tmp_path, print)
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))

    def docs(stream) -> list[tuple]:
        """The documents of a packed stream: the token ids between [SEP]s."""
        ends = [i for i, t in enumerate(stream) if t == SEP]
        return [tuple(stream[a + 1 : b]) for a, b in zip([-1] + ends, ends)]

    def ids(line) -> tuple:
        return tuple(tokenizer(line, add_special_tokens=False)["input_ids"])

    assert docs(streams.heldout) == [ids(x) for x in held]
    trained = {doc for stream in streams.train for doc in docs(stream)}
    assert len(trained) > 10 * len(held)
    assert not trained & {ids(x) for x in held}


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
            "--no-word2vec",  # the text is refused whether or not the pretrain extra is installed
            "--no-whole-word",
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


# ------------------------------------------------------------------ the recipe file

SHIPPED_RECIPE = ROOT / "configs" / "pretrain_medchar_roformer.json"
CONTINUE_RECIPE = ROOT / "configs" / "pretrain_medchar_roformer_continue.json"


def test_the_recipe_files_are_the_shipped_encoders_stages():
    """The shipped encoder's two stages: configs/pretrain_medchar_roformer.json from scratch (its
    record predates `precision`: fp32), then configs/pretrain_medchar_roformer_continue.json."""
    record = srsly.read_json(ROOT / "encoders" / "medchar-roformer-4x256" / "pretraining.json")
    (stage1,) = record["progress"]["stages"]
    for recipe_file, recorded in (
        (SHIPPED_RECIPE, stage1["recipe"]),
        (CONTINUE_RECIPE, record["recipe"]),
    ):
        stated = read_recipe(recipe_file)
        for key, value in recorded.items():
            assert getattr(stated, key) == pytest.approx(value), (recipe_file.name, key)
        assert set(srsly.read_json(recipe_file)) == set(Recipe.__dataclass_fields__)
    assert read_recipe(SHIPPED_RECIPE).precision == "fp32"
    assert read_recipe(ROOT / "encoders" / "medchar-roformer-4x256" / "pretraining.json")


def test_a_recipe_file_with_overrides(tmp_path):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"layers": 2, "whole_word": False}), encoding="utf8")
    recipe = with_overrides(read_recipe(path), layers=None, lr=5e-4, whole_word=None)
    assert (recipe.layers, recipe.lr, recipe.whole_word, recipe.hidden) == (2, 5e-4, False, 256)
    path.write_text(json.dumps({"layer": 2}), encoding="utf8")
    with pytest.raises(
        PretrainTextError, match=r"recipe.json: unknown recipe field\(s\) \['layer'\]"
    ):
        read_recipe(path)
    path.write_text('{"layers": 2,}', encoding="utf8")
    with pytest.raises(PretrainTextError, match=r"recipe.json: invalid JSON: .*line 1"):
        read_recipe(path)


@pytest.mark.parametrize(
    "recipe,missing",
    [
        (dict(whole_word=True, word2vec=False), ["jieba"]),
        (dict(whole_word=False, word2vec=True), ["gensim"]),
        (dict(whole_word=True, word2vec=True), ["jieba", "gensim"]),
    ],
)
def test_a_missing_extra_is_named_with_the_install_command(monkeypatch, tmp_path, recipe, missing):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name in missing else real(name)
    )
    start = Start(tmp_path / "enc", tmp_path / "enc.partial", tmp_path / "state.pt")
    with pytest.raises(PretrainTextError, match=r'pip install -e "\.\[pretrain\]"') as e:
        check_extras(Recipe(**recipe), start)
    assert all(name in str(e.value) for name in missing)
    check_extras(Recipe(whole_word=False, word2vec=False), start)  # neither is needed
    start.init_from = tmp_path  # a model to continue has its embeddings: no word2vec
    check_extras(Recipe(whole_word=False, word2vec=True), start)
