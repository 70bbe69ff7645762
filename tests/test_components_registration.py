"""The component modules are shipped twice (in the library and inside each packaged pipeline):
whichever copy is imported first keeps the factory, and the second import is no error (E004)."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import spacy
import srsly

from .conftest import ROOT

# every module `spacy package --code` puts in a wheel (project.yml's component_code)
CODE = srsly.read_yaml(ROOT / "project.yml")["vars"]["component_code"].split(",")
SHIPPED = [Path(p).stem for p in CODE]


@pytest.mark.parametrize("module", SHIPPED)
def test_a_second_copy_of_a_shipped_module_imports_cleanly(tmp_path, module):
    importlib.import_module(f"zh_medner.components.{module}")  # the library's copy
    for path in CODE:  # its siblings, as the wheel has them, for the import on its own
        shutil.copy(ROOT / path, tmp_path / Path(path).name)
    copy = tmp_path / f"wheel_copy_{module}.py"  # imported alone, as `spacy package` does
    shutil.copy(ROOT / "zh_medner" / "components" / f"{module}.py", copy)
    spec = importlib.util.spec_from_file_location(copy.stem, copy)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[copy.stem] = mod
    spec.loader.exec_module(mod)  # raised E004 before the first copy kept its registration


@pytest.mark.parametrize("factory", ["span_head", "zh_entity_ruler", "zh_context"])
def test_factories_are_found_without_code_arguments(factory):
    """spacy_factories entry points: a pipeline folder loads in the project's venv, no --code."""
    assert spacy.blank("zh").has_factory(factory)
