"""Build the seeded, randomly initialised stand-in encoder (character vocabulary, HF format)."""
from pathlib import Path

import typer
from wasabi import msg

from zh_medner.encoder import build_random_encoder


def main(
    output_dir: Path,
    seed: int = typer.Option(0, "--seed"),
    hidden: int = typer.Option(128, "--hidden"),
    layers: int = typer.Option(2, "--layers"),
    heads: int = typer.Option(2, "--heads"),
    intermediate: int = typer.Option(512, "--intermediate"),
):
    build_random_encoder(output_dir, seed=seed, hidden=hidden, layers=layers, heads=heads, intermediate=intermediate)
    msg.good(f"random (untrained) encoder -> {output_dir}")


if __name__ == "__main__":
    typer.run(main)
