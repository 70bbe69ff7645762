"""Write docs/commands.md: every command and workflow of project.yml, as `spacy project document`
(weasel) renders them. `make docs` runs it; `--check` fails when the file is out of date
(tests/test_docs.py), so the table never drifts from project.yml."""

import contextlib
import tempfile
from pathlib import Path

import typer
from wasabi import msg
from weasel.cli.document import project_document

from zh_medner.io import write_text_atomic

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "commands.md"


@contextlib.contextmanager
def quiet():
    """wasabi's messages off while weasel writes to the temporary file."""
    before, msg.no_print = msg.no_print, True
    try:
        yield
    finally:
        msg.no_print = before


def render(project_dir: Path = ROOT, current: Path = OUTPUT) -> str:
    """The file as `spacy project document --output` leaves it: the text outside its markers
    kept, the generated part replaced; the link to project.yml made relative to docs/."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / current.name
        if current.exists():
            out.write_text(current.read_text(encoding="utf8"), encoding="utf8")
        with quiet():
            project_document(project_dir, out, no_emoji=True)
        text = out.read_text(encoding="utf8")
    return text.replace("](project.yml)", "](../project.yml)")


def main(
    output: Path = typer.Option(OUTPUT, "--output"),
    check: bool = typer.Option(False, "--check", help="fail if OUTPUT is not current"),
):
    text = render(ROOT, output)
    if check:
        if not output.exists() or output.read_text(encoding="utf8") != text:
            msg.fail(f"{output} is out of date with project.yml: run `make docs`", exits=1)
        msg.good(f"{output} is current")
        return
    write_text_atomic(output, text)
    msg.good(f"Wrote {output}")


if __name__ == "__main__":
    typer.run(main)
