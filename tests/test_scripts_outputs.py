"""Every script that loads a model and writes a result checks where it writes first: an output it
cannot write is refused in a second, with its path, before the model loads (or a server starts)."""

import subprocess

import pytest
import spacy
import typer
from typer.testing import CliRunner

from .conftest import load_script

SCRIPTS = {
    "evaluate": ["{model}", "{data}", "{out}", "{tmp}/ok.md"],
    "error_report": ["{model}", "{data}", "{out}"],
    "evaluate_drug_ruler": ["{model}", "{data}", "{data}", "{out}", "{tmp}/ok.md"],
    "probe_encoder": ["{model}", "--train", "{data}", "--dev", "{data}", "--output", "{out}"],
    "benchmark_long_record": ["{model}", "--out", "{out}"],
    "benchmark_serve": ["{model}", "{out}"],
    "benchmark_abandoned": ["{model}", "{out}"],
}


def loaded(*args, **kwargs):
    raise AssertionError("the model was loaded (or a server started) before the refusal")


@pytest.mark.parametrize("name", list(SCRIPTS))
@pytest.mark.parametrize("where", ["under a file", "a folder"])
def test_an_output_that_cannot_be_written_is_refused_before_the_model_loads(
    tmp_path, monkeypatch, name, where
):
    module = load_script(name)
    for attr in ("compare", "probe"):
        if hasattr(module, attr):
            monkeypatch.setattr(module, attr, loaded)
    monkeypatch.setattr(spacy, "load", loaded)
    monkeypatch.setattr(subprocess, "Popen", loaded)
    data = tmp_path / "dev.spacy"
    data.write_bytes(b"")
    out = data / "out.html" if where == "under a file" else tmp_path
    if name == "error_report" and where == "a folder":
        out = tmp_path / "report.html"
        out.mkdir()
    app = typer.Typer()
    app.command()(module.main)
    args = [
        a.format(model=tmp_path / "model", data=data, out=out, tmp=tmp_path) for a in SCRIPTS[name]
    ]
    result = CliRunner().invoke(app, args)
    assert not isinstance(result.exception, AssertionError), result.exception
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and str(out) in said, said
    assert ("is a file, not a folder" if where == "under a file" else "is a folder") in said
