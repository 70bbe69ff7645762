"""Build assets/lexicon_cmekg.json (typed CMeKG names for the lexicon features) from the pycmekg
sdist, read with the unpickler that refuses every class."""

from pathlib import Path

import srsly
import typer
from wasabi import msg

from zh_medner.dictionary.cmekg import load_cmekg
from zh_medner.dictionary.lexicon import build_lexicon
from zh_medner.io import write_atomic


def main(sdist: Path, drug_patterns: Path, output: Path):
    lexicon = build_lexicon(load_cmekg(sdist), srsly.read_json(drug_patterns))
    write_atomic(output, lambda tmp: srsly.write_json(tmp, lexicon, indent=0))
    msg.good(f"{output}: " + ", ".join(f"{label} {len(t):,}" for label, t in lexicon.items()))


if __name__ == "__main__":
    typer.run(main)
