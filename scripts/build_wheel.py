"""Build the wheel of a package folder written by `spacy package --build none`, without a
requirement on this project's own library.

`spacy package` adds a requirement for every distribution that registered a function the
config names. The factories are registered by the zh-medner library's entry points, so it
would require `zh-medner`, which is not on any index; yet the wheel carries the component
modules itself (`--code`) and needs no library. So the requirement is dropped from the
package's meta.json (setup.py reads it at build time) and the wheel built with `build`.
"""

import subprocess
import sys
from pathlib import Path

import srsly
import typer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
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
    subprocess.run([sys.executable, "-m", "build", ".", "--wheel"], cwd=package_dir, check=True)
    wheels = sorted((package_dir / "dist").glob("*.whl"))
    msg.good(f"built {wheels[-1] if wheels else '(no wheel)'}; requires {', '.join(kept)}")


if __name__ == "__main__":
    typer.run(main)
