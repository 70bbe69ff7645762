"""The component modules are shipped twice (in the library and inside each packaged pipeline):
whichever copy is imported first keeps the factory, and the second import is no error (E004)."""

import importlib.util
import shutil
import sys

import pytest
import spacy

from .conftest import ROOT

SHIPPED = ["span_head", "entity_ruler", "context"]


@pytest.mark.parametrize("module", SHIPPED)
def test_a_second_copy_of_a_shipped_module_imports_cleanly(tmp_path, module):
    importlib.import_module(f"zh_medner.components.{module}")  # the library's copy
    copy = tmp_path / f"wheel_copy_{module}.py"  # what `spacy package --code` puts in a wheel
    shutil.copy(ROOT / "zh_medner" / "components" / f"{module}.py", copy)
    spec = importlib.util.spec_from_file_location(copy.stem, copy)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[copy.stem] = mod
    spec.loader.exec_module(mod)  # raised E004 before the first copy kept its registration


@pytest.mark.parametrize("factory", ["span_head", "zh_entity_ruler", "zh_context"])
def test_factories_are_found_without_code_arguments(factory):
    """spacy_factories entry points: a pipeline folder loads in the project's venv, no --code."""
    assert spacy.blank("zh").has_factory(factory)
