"""scripts/benchmark_allocator.py: settings become environments, and each setting gets a row."""

import json
import sys

import pytest
import typer

from .conftest import load_script

bench = load_script("benchmark_allocator")


def test_a_setting_replaces_every_malloc_variable_of_ours(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert not any(k.startswith("MALLOC_") for k in bench.environment("default"))
    env = bench.environment("MALLOC_TRIM_THRESHOLD_=1073741824, MALLOC_MMAP_THRESHOLD_=1073741824")
    assert env["MALLOC_TRIM_THRESHOLD_"] == "1073741824"
    assert env["MALLOC_MMAP_THRESHOLD_"] == "1073741824" and "MALLOC_ARENA_MAX" not in env


@pytest.mark.parametrize("setting", ["TRIM=0", "MALLOC_TRIM_THRESHOLD_", "fast"])
def test_a_bad_setting_is_refused_with_the_form(setting):
    with pytest.raises(typer.BadParameter, match="MALLOC_NAME=VALUE"):
        bench.environment(setting)


def test_each_setting_gets_a_row_with_the_command_seeing_its_environment(tmp_path):
    seen = tmp_path / "seen.txt"
    code = (
        f"import os; open({str(seen)!r}, 'a').write(os.environ.get('MALLOC_TRIM_THRESHOLD_', '-'))"
    )
    out = tmp_path / "rows.json"
    bench.main([sys.executable, "-c", code], ["default", "MALLOC_TRIM_THRESHOLD_=0"], 2, out)
    assert seen.read_text() == "-0-0"  # the settings take turns
    rows = json.loads(out.read_text())["rows"]
    assert [r["setting"] for r in rows] == ["default", "MALLOC_TRIM_THRESHOLD_=0"]
    assert rows[0]["vs_first"] == 1.0 and all(r["peak_rss_mb"] > 0 for r in rows)


def test_a_failing_command_stops_the_benchmark(tmp_path):
    with pytest.raises(SystemExit):
        bench.main([sys.executable, "-c", "raise SystemExit(3)"], ["default"], 1, None)
