"""The encoder path check refuses folders that Hugging Face would fail on later, with the reason."""

import re

import numpy
import pytest
from safetensors.numpy import save

from zh_medner.encoder.check import check_encoder


def model_folder(path, config: bytes | None = b'{"model_type": "bert"}', weights=True):
    path.mkdir(exist_ok=True)
    (path / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf8")
    if config is not None:
        (path / "config.json").write_bytes(config)
    if weights:
        (path / "model.safetensors").write_bytes(save({"w": numpy.zeros(2, dtype="float32")}))
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


LFS = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 21482344\n"
)


@pytest.mark.parametrize(
    "name,content,fragment",
    [
        ("model.safetensors", b"", "is empty (0 bytes), not the weights"),
        ("pytorch_model.bin", b"", "is empty (0 bytes), not the weights"),
        ("model.safetensors", LFS, "is a Git LFS pointer (133 bytes), not the weights"),
        ("pytorch_model.bin", LFS, "git lfs install && git lfs pull"),
        ("model.safetensors", save({"w": numpy.zeros(64, dtype="float32")})[:-100], "cut short"),
    ],
)
def test_weights_that_cannot_load_are_refused_with_the_fix(tmp_path, name, content, fragment):
    folder = model_folder(tmp_path / "enc", weights=False)
    (tmp_path / "enc" / name).write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(fragment)) as err:
        check_encoder(folder)
    assert str(err.value).startswith(f"{folder}/{name}: ")
