"""Fail early, and clearly, when the encoder is neither a local model folder nor a usable hub id."""

import typer
from wasabi import msg

from zh_medner.encoder.check import check_encoder


def main(encoder: str):
    try:
        msg.good(check_encoder(encoder))
    except ValueError as e:
        msg.fail(str(e), exits=1)


if __name__ == "__main__":
    typer.run(main)
