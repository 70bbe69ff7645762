import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from zh_medner.encoder.check import check_encoder
from zh_medner.encoder.random_init import build_random_encoder
from zh_medner.encoder.vocab import char_vocab

SMALL = dict(hidden=32, layers=1, heads=1, intermediate=64)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("enc") / "random-enc"
    build_random_encoder(path, seed=3, **SMALL)
    return path


def test_vocab_has_pieces_for_latin_and_digits():
    vocab = char_vocab()
    assert len(vocab) == len(set(vocab))
    assert {"##b", "##1", "##c", "##m", "##g", "高", "，", "℃"} <= set(vocab)


def test_tokenizer_keeps_lab_values_and_units_known(encoder_dir):
    tok = AutoTokenizer.from_pretrained(str(encoder_dir))
    pieces = tok.tokenize("HbA1c 7.5%，阿莫西林100mg")
    assert tok.unk_token not in pieces
    assert pieces[:5] == ["h", "##b", "##a", "##1", "##c"]
    assert "阿" in pieces and "莫" in pieces


def test_same_seed_same_weights(encoder_dir, tmp_path):
    build_random_encoder(tmp_path / "again", seed=3, **SMALL)
    a = load_file(encoder_dir / "model.safetensors")
    b = load_file(tmp_path / "again" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert "NOT PRETRAINED" in (encoder_dir / "README.md").read_text(encoding="utf8")


def test_check_encoder_accepts_a_model_folder(encoder_dir):
    assert "local encoder" in check_encoder(str(encoder_dir))


@pytest.mark.parametrize("name", ["./missing", "/no/such/dir", "not a hub id"])
def test_check_encoder_missing_path_is_a_clear_error(name):
    with pytest.raises(ValueError, match="encoder directory not found"):
        check_encoder(name)


def test_check_encoder_typo_under_an_existing_folder_is_not_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "encoders").mkdir()
    with pytest.raises(ValueError, match="encoder directory not found: 'encoders/missing-encoder'"):
        check_encoder("encoders/missing-encoder")


def test_check_encoder_folder_without_model_files(tmp_path):
    with pytest.raises(ValueError, match="missing config.json"):
        check_encoder(str(tmp_path))


def test_check_encoder_hub_id_needs_the_hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert "hub id" in check_encoder("hfl/chinese-roberta-wwm-ext")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="hub is offline"):
        check_encoder("hfl/chinese-roberta-wwm-ext")
