"""Build a seeded, randomly initialised encoder (NOT pretrained): the fast stand-in, or a twin of
another.
"""

from pathlib import Path

import typer
from wasabi import msg

from zh_medner.encoder.random_init import build_random_encoder


def main(
    output_dir: Path,
    seed: int = typer.Option(0, "--seed"),
    hidden: int = typer.Option(128, "--hidden"),
    layers: int = typer.Option(2, "--layers"),
    heads: int = typer.Option(2, "--heads"),
    intermediate: int = typer.Option(512, "--intermediate"),
    like: Path | None = typer.Option(
        None, "--like", help="copy shape and vocabulary of this encoder folder"
    ),
):
    build_random_encoder(
        output_dir,
        seed=seed,
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=intermediate,
        like=like,
    )
    msg.good(f"random (untrained) encoder -> {output_dir}")


if __name__ == "__main__":
    typer.run(main)
