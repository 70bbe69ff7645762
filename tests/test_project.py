"""project.yml: every step lists what it runs, so a change reruns exactly the steps it affects."""

import ast
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from weasel.cli.run import check_rerun, update_lockfile
from weasel.util import load_project_config

from .conftest import ROOT

CREATED_BY_WORKFLOW = (
    "corpus/",
    "training/",
    "metrics/",
    "pipelines/",
    "packages/",
    "encoders/",
    "assets/PyCMeKG",
)
PACKAGE = ROOT / "zh_medner"


def commands():
    return load_project_config(ROOT)["commands"]


def module_file(dotted: str):
    path = ROOT.joinpath(*dotted.split("."))
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return None


def imported_modules(path: Path, seen=None) -> set:
    """The zh_medner files that `path` imports, transitively."""
    seen = set() if seen is None else seen
    tree = ast.parse(path.read_text(encoding="utf8"))
    package = (
        ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        if path.is_relative_to(PACKAGE)
        else ""
    )
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if not name.startswith("zh_medner"):
                continue
            for i in range(1, len(name.split(".")) + 1):  # the package __init__ files run too
                found = module_file(".".join(name.split(".")[:i]))
                if found and found not in seen:
                    seen.add(found)
                    imported_modules(found, seen)
    return seen


def entry_point_modules() -> dict:
    """Registered name -> the module file that registers it (pyproject entry points)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]
    out = {}
    for group in project.get("entry-points", {}).values():
        for name, target in group.items():
            out[name] = module_file(target.split(":")[0])
    return out


def needed_files(cmd) -> set:
    needed = set()
    registered = entry_point_modules()
    for line in cmd["script"]:
        for script in re.findall(r"scripts/\w+\.py", line):
            needed.add(ROOT / script)
            needed |= imported_modules(ROOT / script)
        for cfg in re.findall(r"configs/[\w.]+\.cfg", line):
            needed.add(ROOT / cfg)
            text = (ROOT / cfg).read_text(encoding="utf8")
            for name in re.findall(r'(?:factory|@\w+) = "([^"]+)"', text):
                if registered.get(name):
                    needed.add(registered[name])
                    needed |= imported_modules(registered[name])
        for code in re.findall(r"--code (\S+)", line):
            needed |= {ROOT / p for p in code.split(",") if not p.startswith("${")}
    return {
        p
        for p in needed
        if p.name != "__init__.py" or p.read_text(encoding="utf8").strip().count("\n") > 3
    }


def covered(path: Path, deps) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


@pytest.mark.parametrize("cmd", commands(), ids=lambda c: c["name"])
def test_every_script_module_and_config_a_step_runs_is_in_its_deps(cmd):
    deps = cmd.get("deps", [])
    missing = sorted(str(p.relative_to(ROOT)) for p in needed_files(cmd) if not covered(p, deps))
    assert not missing, f"{cmd['name']} runs these but does not list them in deps: {missing}"


def test_every_dependency_is_a_single_existing_or_generated_path():
    for cmd in commands():
        for dep in cmd.get("deps", []):
            assert "${" not in dep and ", " not in dep, (cmd["name"], dep)
            if dep.startswith("../shared/"):
                continue  # research data, read by path where present
            assert (ROOT / dep).exists() or dep.startswith(CREATED_BY_WORKFLOW), (cmd["name"], dep)


def test_all_workflow_ends_with_the_wheel_check():
    steps = load_project_config(ROOT)["workflows"]["all"]
    assert steps.index("package") < steps.index("check-wheel")
    assert {"convert", "train", "evaluate", "assemble"} <= set(steps)


@pytest.mark.parametrize(
    "step,touched",
    [
        ("evaluate", "zh_medner/evaluation/ner.py"),
        ("convert", "zh_medner/annotations/brat.py"),
        ("assemble", "zh_medner/components/context.py"),
        ("evaluate-context", "scripts/evaluate_context.py"),
    ],
)
def test_touching_a_module_reruns_the_step(tmp_path, step, touched):
    project = tmp_path / "p"
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(".venv", ".git", "training", "packages", "*.egg-info"),
    )
    config = load_project_config(project)
    cmd = next(c for c in config["commands"] if c["name"] == step)
    for path in cmd.get("deps", []) + cmd.get(
        "outputs", []
    ):  # stand-ins for what earlier steps write
        target = project / path
        if not target.exists() and not path.startswith("../"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("stand-in", encoding="utf8")
    cmd["deps"] = [d for d in cmd.get("deps", []) if (project / d).exists()]
    update_lockfile(project, cmd)
    assert not check_rerun(project, cmd)
    with (project / touched).open("a", encoding="utf8") as f:
        f.write("\n# touched\n")
    assert check_rerun(project, cmd)
