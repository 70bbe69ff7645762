"""The encoder path check refuses folders that Hugging Face would fail on later, with the reason."""

import pytest

from zh_medner.encoder.check import check_encoder


def model_folder(path, config: bytes | None = b'{"model_type": "bert"}', weights=True):
    path.mkdir(exist_ok=True)
    (path / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf8")
    if config is not None:
        (path / "config.json").write_bytes(config)
    if weights:
        (path / "model.safetensors").write_bytes(b"")
    return str(path)


def test_a_complete_folder_is_accepted(tmp_path):
    description = check_encoder(model_folder(tmp_path / "enc"))
    assert description.startswith("local encoder") and description.endswith("(bert)")


def test_a_folder_without_weights_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"missing weights \(model.safetensors or pytorch_model"):
        check_encoder(model_folder(tmp_path / "enc", weights=False))


@pytest.mark.parametrize(
    "config,fragment",
    [
        (b'{"model_type": "bert",', "not valid UTF-8 JSON"),
        ('{"model_type": "模型"}'.encode("gbk"), "not valid UTF-8 JSON"),
        (b'["bert"]', "expected a JSON object, found list"),
    ],
)
def test_a_bad_config_is_refused_with_its_path(tmp_path, config, fragment):
    folder = model_folder(tmp_path / "enc", config)
    with pytest.raises(ValueError, match=fragment) as err:
        check_encoder(folder)
    assert str(err.value).startswith(f"{folder}/config.json: ")


def test_a_file_is_not_an_encoder_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf8")
    with pytest.raises(ValueError, match="is a file; give the directory"):
        check_encoder(str(tmp_path / "config.json"))
