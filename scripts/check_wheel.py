"""Install the built wheel into a fresh virtual environment and use it offline, like a user."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import typer
from wasabi import msg

TORCH = "torch==2.13.0"  # pinned first: an unpinned torch would resolve to a multi-GB CUDA build


def main(packages_dir: Path, name: str = typer.Option("zh_medner_trf", "--name")):
    wheels = sorted(packages_dir.glob(f"{name}-*/dist/*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        msg.fail(f"no wheel under {packages_dir}/{name}-*/dist/", exits=1)
    wheel = wheels[-1].resolve()
    smoke = Path(__file__).with_name("wheel_smoke.py").resolve()
    with tempfile.TemporaryDirectory(prefix="wheel-check-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
        ]
        msg.info(f"installing {wheel.name} into a fresh venv")
        subprocess.run(pip + [TORCH], check=True)
        subprocess.run(pip + [str(wheel)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        # run from an empty folder so nothing of this project is importable
        result = subprocess.run([str(venv / "bin" / "python"), str(smoke), name], cwd=tmp, env=env)
    if result.returncode != 0:
        msg.fail(f"installed wheel {wheel.name} failed its offline check", exits=1)
    msg.good(f"{wheel.name}: installs, loads offline and annotates")


if __name__ == "__main__":
    typer.run(main)
