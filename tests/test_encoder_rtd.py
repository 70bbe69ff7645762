"""zh_medner/encoder/rtd.py through pretrain(): replaced-token detection continues a masked-LM
encoder, saves an encoder without a masked-LM head that spaCy loads, resumes, and refuses a
generator it cannot use."""

import json

import pytest
import torch

from zh_medner.encoder.masking import MASK
from zh_medner.encoder.pretrain import pretrain
from zh_medner.encoder.recipe import with_overrides
from zh_medner.encoder.rtd import corrupt, load_generator
from zh_medner.encoder.text import PretrainTextError, TextSource
from zh_medner.encoder.vocab import SPECIAL_TOKENS

from .test_encoder_pretrain import TINY, text_file  # noqa: F401 (a fixture)

QUIET = dict(threads=1, log=lambda m: None, progress_bar=False)


@pytest.fixture(scope="module")
def generator(text_file, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """A tiny masked-LM encoder, the generator and the start of the discriminator, trained
    for a fraction of a second: its samples are poor, so a tiny discriminator can learn to spot
    them in seconds. (A generator trained for 6 s proposes frequent characters; spotting those
    needs context, and the tiny discriminator only learns the base rate, F1 0.)"""
    out = tmp_path_factory.mktemp("gen") / "mlm"
    pretrain([TextSource(text_file)], out, 0.003, TINY, cache_dir=out.parent / "cache", **QUIET)
    return out


@pytest.fixture(scope="module")
def discriminator(generator, text_file, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("rtd") / "disc"
    recipe = with_overrides(TINY, objective="rtd", generator=str(generator))
    progress = pretrain(
        [TextSource(text_file)], out, 0.15, recipe, init_from=generator,
        cache_dir=out.parent / "cache", checkpoint_minutes=0.04, **QUIET,
    )  # fmt: skip
    return out, progress, recipe


def test_the_discriminator_learns_and_is_scored_by_replaced_token_f1(discriminator):
    _, progress, _ = discriminator
    losses = [h["loss"] for h in progress.history if h["loss"] is not None]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    scores = [h["heldout_rtd_f1"] for h in progress.history]
    assert all(0.0 <= s <= 1.0 for s in scores) and "heldout_top1" not in progress.history[-1]
    assert scores[-1] > scores[0] + 0.1  # step 0 is the untrained head's guess


def test_its_folder_is_an_encoder_without_a_masked_lm_head(discriminator):
    from safetensors.torch import load_file
    from transformers import AutoModel

    out, _, _ = discriminator
    assert not [k for k in load_file(out / "model.safetensors") if k.startswith("cls.")]
    assert AutoModel.from_pretrained(out).config.hidden_size == 32
    card = (out / "README.md").read_text("utf8")
    assert "held-out replaced-token F1" in card and "two-stage ELECTRA" in card
    assert "masked-character top-1" not in card.split("## Stages")[0]
    import spacy

    nlp = spacy.blank("zh")
    nlp.add_pipe("transformer", config={"model": {"name": str(out)}})
    nlp.initialize()
    assert nlp("患者发热三天")._.trf_data.model_output.last_hidden_state.shape[-1] == 32


def test_an_rtd_run_resumes(discriminator, text_file):  # noqa: F811
    out, _, recipe = discriminator
    before = json.loads((out / "pretraining.json").read_text("utf8"))["progress"]
    after = pretrain(
        [TextSource(text_file)], out, 0.25, recipe, resume=True, cache_dir=out.parent / "cache",
        checkpoint_minutes=0.04, **QUIET,
    )  # fmt: skip
    assert after.step > before["step"]
    assert after.history[: len(before["history"])] == before["history"]


def test_corrupt_replaces_only_the_chosen_positions_with_normal_characters(generator):
    model = load_generator(
        str(generator), (generator / "vocab.txt").read_text("utf8").split("\n")[:-1]
    )
    ids = torch.randint(len(SPECIAL_TOKENS), model.config.vocab_size, (4, 20))
    chosen = torch.zeros_like(ids, dtype=torch.bool)
    chosen[:, 3:8] = True
    inputs = torch.where(chosen, torch.full_like(ids, MASK), ids)
    corrupted, replaced = corrupt(model, ids, inputs, chosen, seed=5)
    assert torch.equal(corrupted[~chosen], ids[~chosen]) and not replaced[~chosen].any()
    assert torch.equal(replaced, corrupted != ids)
    assert (corrupted[chosen] >= len(SPECIAL_TOKENS)).all()
    assert torch.equal(corrupt(model, ids, inputs, chosen, seed=5)[0], corrupted)


def test_a_generator_of_another_vocabulary_is_refused(generator):
    with pytest.raises(PretrainTextError, match="is not the run's"):
        load_generator(str(generator), ["[PAD]", "x"])


def test_an_rtd_recipe_without_a_generator_is_refused_before_reading(tmp_path):
    recipe = with_overrides(TINY, objective="rtd", generator=str(tmp_path / "nowhere"))
    with pytest.raises(PretrainTextError, match="--generator .*needs a masked-LM folder"):
        pretrain([TextSource(tmp_path / "absent.txt")], tmp_path / "out", 1, recipe, **QUIET)
    with pytest.raises(PretrainTextError, match="--objective 'mlx'"):
        pretrain(
            [TextSource(tmp_path / "absent.txt")], tmp_path / "out", 1,
            with_overrides(TINY, objective="mlx"), **QUIET,
        )  # fmt: skip
