"""scripts/build_wheel.py: the package's README.md follows its meta.json on every build."""

import json

from .conftest import load_script

META = {
    "lang": "zh",
    "name": "medner_test",
    "version": "0.1.0",
    "description": "Scores on the dev data: official CMeEE micro F1 60.5",
    "spacy_version": ">=3.8.0,<3.9.0",
    "requirements": [],
}


def _package(tmp_path, meta):
    """A folder as `spacy package --build none --force` leaves it over an earlier build."""
    package = tmp_path / "zh_medner_test-0.1.0"
    (package / "zh_medner_test" / "zh_medner_test-0.1.0").mkdir(parents=True)
    (package / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    (package / "README.md").write_text("official CMeEE micro F1 60.4 (old build)\n", "utf-8")
    return package


def test_a_stale_readme_is_written_again_from_meta(tmp_path):
    package = _package(tmp_path, META)
    assert load_script("build_wheel").write_readme(package, META)
    readme = (package / "README.md").read_text("utf-8")
    assert "60.5" in readme and "60.4" not in readme
    assert "zh_medner_test" in readme


def test_a_pipelines_own_readme_is_kept(tmp_path):
    package = _package(tmp_path, META)
    own = package / "zh_medner_test" / "zh_medner_test-0.1.0" / "README.md"
    own.write_text("the user's own card\n", "utf-8")
    (package / "README.md").write_text("the user's own card\n", "utf-8")  # spacy package copies it
    assert not load_script("build_wheel").write_readme(package, META)
    assert (package / "README.md").read_text("utf-8") == "the user's own card\n"


def test_an_earlier_builds_files_are_removed_before_building(tmp_path):
    package = _package(tmp_path, META)
    stale = package / "build" / "lib" / "zh_medner_test" / "zh_medner_test-0.1.0" / "README.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("official CMeEE micro F1 60.4 (old build)\n", "utf-8")
    (package / "zh_medner_test.egg-info").mkdir()
    load_script("build_wheel").clean_build(package)
    assert not (package / "build").exists() and not (package / "zh_medner_test.egg-info").exists()
    assert (package / "meta.json").is_file() and (package / "zh_medner_test").is_dir()
