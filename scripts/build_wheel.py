"""Build the wheel of a package folder written by `spacy package --build none`, without a
requirement on this project's own library.

`spacy package` adds a requirement for every distribution that registered a function the
config names. The factories are registered by the zh-medner library's entry points, so it
would require `zh-medner`, which is not on any index; yet the wheel carries the component
modules itself (`--code`) and needs no library. So the requirement is dropped from the
package's meta.json (setup.py reads it at build time) and the wheel built with `build`.

The package's README.md (the wheel's description: its model card) is written again from that
meta.json: `spacy package --force` replaces the pipeline but keeps a README.md that an earlier
build left, so a rebuilt wheel would state the old model's scores. For the same reason the
`build/` and `*.egg-info` folders of an earlier build are removed first: setuptools would copy
their stale files into the new wheel.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import srsly
import typer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from spacy.cli.package import generate_readme
from wasabi import msg

from zh_medner.io import write_atomic

OWN_DISTRIBUTION = "zh-medner"


def main(package_dir: Path):
    meta_path = package_dir / "meta.json"
    if not meta_path.is_file():
        msg.fail(f"{meta_path} is missing", "Run `spacy package ... --build none` first.", exits=1)
    meta = srsly.read_json(meta_path)
    requirements = meta.get("requirements", [])
    kept = [r for r in requirements if canonicalize_name(Requirement(r).name) != OWN_DISTRIBUTION]
    if kept != requirements:
        meta["requirements"] = kept
        write_atomic(meta_path, lambda tmp: srsly.write_json(tmp, meta))
        msg.info(f"{meta_path}: dropped the requirement on {OWN_DISTRIBUTION} (the code is inside)")
    if write_readme(package_dir, meta):
        msg.info(f"{package_dir}/README.md written from its meta.json")
    clean_build(package_dir)
    subprocess.run([sys.executable, "-m", "build", ".", "--wheel"], cwd=package_dir, check=True)
    wheels = sorted((package_dir / "dist").glob("*.whl"))
    msg.good(f"built {wheels[-1] if wheels else '(no wheel)'}; requires {', '.join(kept)}")


def write_readme(package_dir: Path, meta: dict) -> bool:
    """README.md from `meta`, unless the pipeline brought its own (spacy package copies that
    one, fresh, on every build). True when written."""
    name = meta["name"]
    name = name if name.startswith(meta["lang"] + "_") else f"{meta['lang']}_{name}"  # as spaCy
    pipeline_dir = package_dir / name / f"{name}-{meta['version']}"
    if (pipeline_dir / "README.md").is_file():
        return False
    readme = generate_readme(meta)
    write_atomic(package_dir / "README.md", lambda tmp: Path(tmp).write_text(readme, "utf-8"))
    return True


def clean_build(package_dir: Path) -> None:
    """Remove what an earlier build left for setuptools to reuse (build/, *.egg-info)."""
    for leftover in [package_dir / "build", *package_dir.glob("*.egg-info")]:
        if leftover.is_dir():
            shutil.rmtree(leftover)


if __name__ == "__main__":
    typer.run(main)
