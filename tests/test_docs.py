"""The user docs stay true: the command table is project.yml's, the README's links and paths
resolve."""

import re

from .conftest import ROOT, load_script

README = (ROOT / "README.md").read_text(encoding="utf8")
RESULTS = ROOT / "docs" / "results.md"


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_commands_md_is_current():
    document = load_script("document_project")
    assert (ROOT / "docs" / "commands.md").read_text(encoding="utf8") == document.render(), (
        "docs/commands.md is out of date with project.yml: run `make docs`"
    )


def test_readme_links_to_results_sections_that_exist():
    anchors = {
        slug(line.lstrip("#"))
        for line in RESULTS.read_text(encoding="utf8").splitlines()
        if line.startswith("#")
    }
    links = re.findall(r"\]\(docs/results\.md#([^)]+)\)", README)
    assert links, "the README links its numbers to docs/results.md"
    assert sorted(set(links) - anchors) == []


def test_readme_paths_exist():
    linked = re.findall(r"\]\(((?!https?:|#)[^)#\s]+)", README)
    quoted = re.findall(
        r"`((?:zh_medner|scripts|configs|assets|encoders|docs|tests)/[\w./-]*\w)`", README
    )
    written = {"encoders/medchar-roformer-new"}  # the pretrain workflow's output
    assert sorted({p for p in linked + quoted if not (ROOT / p).exists()} - written) == []
