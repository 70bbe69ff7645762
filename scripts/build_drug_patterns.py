"""Build the DRU entity_ruler patterns from the CMeKG pickle in the pycmekg sdist.

    python scripts/build_drug_patterns.py assets/PyCMeKG-0.2.5.tar.gz assets/drug_patterns.json

Writes a JSON array (what ``srsly.read_json.v1`` loads) of
``{"label": "DRU", "pattern": ..., "id": <generic>}``, one pattern per line,
UTF-8, sorted by pattern; the file is written next to the target and moved
into place, so a failed run leaves the old file alone.
"""

import json
from pathlib import Path

import srsly
import typer

from zh_medner.dictionary.cmekg import load_cmekg
from zh_medner.dictionary.patterns import build_patterns
from zh_medner.io import write_atomic


def dump_patterns(patterns: list) -> str:
    """A JSON array with one pattern object per line (small, diff-friendly)."""
    lines = ",\n".join(json.dumps(p, ensure_ascii=False) for p in patterns)
    return "[\n" + lines + "\n]\n" if patterns else "[]\n"


def main(
    sdist: Path = typer.Argument(
        ...,
        help="pycmekg sdist (.tar.gz) holding pyCMeKG/model/cmekg.pkl",
        exists=True,
        dir_okay=False,
    ),
    output: Path = typer.Argument(
        Path("assets/drug_patterns.json"), help="JSON array of entity_ruler patterns"
    ),
):
    """Write DRU entity_ruler patterns (brand -> generic ids) built from CMeKG."""
    kg = load_cmekg(sdist)
    stats: dict = {}
    patterns = build_patterns(kg, stats)
    text = dump_patterns(patterns)
    srsly.json_loads(text)  # must load the way the pipeline loads it (srsly.read_json.v1)
    write_atomic(output, lambda tmp: tmp.write_text(text, encoding="utf8"))
    typer.echo(f"CMeKG subjects read:      {len(kg)}")
    typer.echo(f"patterns written:         {stats['patterns']} -> {output}")
    typer.echo(f"generic ids:              {stats['generics']}")
    typer.echo(f"brand -> generic links:   {stats['brand_links']}")
    typer.echo(f"strings with >1 generic:  {stats['conflicts']} (resolved deterministically)")
    typer.echo("dropped (unique names by reason):")
    for reason, count in stats["dropped"].items():
        typer.echo(f"  {reason:<16} {count}")


if __name__ == "__main__":
    typer.run(main)
