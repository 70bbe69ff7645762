import shutil
from pathlib import Path

import pytest
import spacy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def nlp():
    return spacy.blank("zh")


def load_script(name: str):
    """A module of scripts/ by file name (scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def needs_shared(*parts: str) -> Path:
    """The path under ../shared/data, or skip: that data is research-licensed, read by path."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (research data lives in ../shared/data beside the checkout)")
    return path


# What a workflow run writes at the project root (matched there only: `zh_medner/corpus`
# is a package, not the `corpus/` output folder), and what never belongs in a copy anywhere.
_NOT_COPIED_AT_ROOT = ("training", "metrics", "pipelines", "corpus", "packages", "results", "runs")
_NOT_COPIED = (
    ".venv",
    ".git",
    "random-*",  # encoders/random-*: built stand-ins; the default encoder is copied
    "checkpoint",  # an encoder's resumable pretraining state
    ".cache",
    ".hypothesis",
    "project.lock",
    "__pycache__",
    ".pytest_cache",
    "*.egg-info",
)


def _ignore_outputs(directory, names):
    ignored = set(shutil.ignore_patterns(*_NOT_COPIED)(directory, names))
    if Path(directory) == ROOT:
        ignored.update(name for name in names if name in _NOT_COPIED_AT_ROOT)
    return ignored


@pytest.fixture(scope="session")
def workflow_project(tmp_path_factory):
    """A copy of the project after `spacy project run all` with a few training steps.

    Everything runs as a user would: convert the embedded Label Studio corpus, train
    on the default (pretrained) encoder, evaluate, assemble, package, and check the
    wheel offline in a fresh virtual environment.
    """
    import os
    import subprocess
    import sys

    project = tmp_path_factory.mktemp("workflow") / "zh-medner"
    shutil.copytree(ROOT, project, ignore=_ignore_outputs)
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [
        sys.executable,
        "-m",
        "spacy",
        "project",
        "run",
        "all",
        str(project),
        "--vars.max_steps",
        "6",
        "--vars.eval_frequency",
        "3",
        "--vars.warmup_steps",
        "2",
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    log = result.stdout + result.stderr
    (project / "workflow.log").write_text(log, encoding="utf8")
    assert result.returncode == 0, log[-6000:]
    return project
