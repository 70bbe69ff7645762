"""project.yml resolves to real paths (weasel interpolation has surprises)."""
from weasel.util import load_project_config

from .conftest import ROOT

CREATED_BY_WORKFLOW = ("corpus/", "training/", "metrics/", "pipelines/", "packages/", "encoders/", "assets/PyCMeKG")


def test_every_dependency_is_a_single_existing_or_generated_path():
    config = load_project_config(ROOT)
    for cmd in config["commands"]:
        for dep in cmd.get("deps", []):
            assert "${" not in dep and ", " not in dep, (cmd["name"], dep)
            if dep.startswith("../shared/"):
                continue  # research data, read by path where present
            assert (ROOT / dep).exists() or dep.startswith(CREATED_BY_WORKFLOW), (cmd["name"], dep)


def test_all_workflow_ends_with_the_wheel_check():
    config = load_project_config(ROOT)
    steps = config["workflows"]["all"]
    assert steps.index("package") < steps.index("check-wheel")
    assert {"convert", "train", "evaluate", "assemble"} <= set(steps)
