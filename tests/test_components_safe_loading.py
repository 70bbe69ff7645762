"""Loading a pipeline never unpickles code, even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 set.

The encoder's state: tests/test_components_transformer.py."""

import io
import os
import pickle

import pytest
import torch

import zh_medner.components.global_pointer as global_pointer


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def tampered(marker) -> bytes:
    buf = io.BytesIO()
    torch.save({"weight": _RunsCode(marker)}, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    return buf.getvalue()


@pytest.fixture
def forced_unsafe(monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


def test_span_head_state_is_loaded_weights_only(forced_unsafe, tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(pickle.UnpicklingError):
        global_pointer._load_weights_only(torch.nn.Linear(2, 2), tampered(marker), "cpu")
    assert not marker.exists()
