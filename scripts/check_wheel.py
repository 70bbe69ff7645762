"""Install the built wheel into a fresh virtual environment and use it offline, like a user.

First the wheel alone (its requirements only), then with this project's library installed
beside it: both register the same components, and neither may break the other.
"""

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import typer
from wasabi import msg

ROOT = Path(__file__).resolve().parent.parent


def torch_pin() -> str:
    """torch as pinned in pyproject.toml: installed first, or pip resolves a multi-GB CUDA build."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"][
        "dependencies"
    ]
    return next(d for d in deps if re.match(r"torch\b", d))


def main(
    packages_dir: Path,
    name: str = typer.Option("zh_medner_trf", "--name"),
    eval_data: Path | None = typer.Option(
        None, "--eval", help="a .spacy file to score the installed wheel on"
    ),
    metrics: Path | None = typer.Option(
        None, "--metrics", help="where to write those scores (JSON)"
    ),
    with_library: bool = typer.Option(
        True, "--with-library/--alone", help="also check it beside the library"
    ),
):
    wheels = sorted(packages_dir.glob(f"{name}-*/dist/*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        msg.fail(f"no wheel under {packages_dir}/{name}-*/dist/", exits=1)
    wheel = wheels[-1].resolve()
    smoke = Path(__file__).with_name("wheel_smoke.py").resolve()
    smoke_args = [name]
    if eval_data is not None:
        smoke_args += [
            str(eval_data.resolve()),
            str((metrics or Path("metrics/wheel.json")).resolve()),
        ]
    with tempfile.TemporaryDirectory(prefix="wheel-check-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        msg.info(f"installing {wheel.name} into a fresh venv")
        subprocess.run(pip + [torch_pin()], check=True)
        subprocess.run(pip + [str(wheel)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        # run from an empty folder so nothing of this project is importable
        result = subprocess.run([python, str(smoke), *smoke_args], cwd=tmp, env=env)
        if result.returncode != 0:
            msg.fail(f"installed wheel {wheel.name} failed its offline check", exits=1)
        if with_library:
            msg.info("installing the zh-medner library beside it")
            subprocess.run(pip + ["--no-deps", str(ROOT)], check=True)
            result = subprocess.run([python, str(smoke), name, "--with-library"], cwd=tmp, env=env)
            if result.returncode != 0:
                msg.fail(
                    f"{wheel.name} fails when the zh-medner library is installed beside it", exits=1
                )
    msg.good(
        f"{wheel.name}: installs, loads offline and annotates"
        + (", also beside the library" if with_library else "")
    )


if __name__ == "__main__":
    typer.run(main)
