"""The `pingpipe schemas` commands, run as a user runs them: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from ..conftest import MPS

PINGPIPE = Path(sys.executable).with_name("pingpipe")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PINGPIPE), *args], capture_output=True, text=True, timeout=120)


def test_build_reproduces_every_visible_mozilla_bq(tmp_path):
    result = run("schemas", "build", str(MPS / "schemas"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    compared = 0
    for want in (MPS / "schemas").glob("*/*/*.bq"):
        if want.parts[-3] == "burnham":
            continue  # per-metric columns: see test_glean.py
        got = tmp_path / want.relative_to(MPS / "schemas")
        assert json.loads(got.read_text()) == json.loads(want.read_text()), want
        compared += 1
    assert compared == 14
    assert len(list(tmp_path.rglob("*.bq"))) == len(list((MPS / "schemas").rglob("*.schema.json")))


def test_build_reports_a_bad_file_by_name_and_fails(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(MPS / "schemas" / "eng-workflow", src / "eng-workflow")
    (src / "eng-workflow" / "broken").mkdir()
    (src / "eng-workflow" / "broken" / "broken.1.schema.json").write_text("{oops")
    result = run("schemas", "build", str(src), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "broken.1.schema.json" in result.stderr
    assert (tmp_path / "out" / "eng-workflow" / "hgpush" / "hgpush.1.bq").is_file()


def test_transpile_prints_one_bq_to_stdout():
    path = MPS / "schemas" / "eng-workflow" / "hgpush" / "hgpush.1.schema.json"
    result = run("schemas", "transpile", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (MPS / "schemas" / "eng-workflow" / "hgpush" / "hgpush.1.bq").read_text()


def test_check_runs_the_validation_documents():
    result = run("schemas", "check", str(MPS / "schemas"), "--validation", str(MPS / "validation"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "49/49 validation document(s) as expected" in result.stdout


def test_check_fails_on_a_bad_repository_naming_the_file(tmp_path):
    (tmp_path / "ns" / "doc").mkdir(parents=True)
    (tmp_path / "ns" / "doc" / "doc.1.schema.json").write_text('{"type": "object"}')
    result = run("schemas", "check", str(tmp_path))
    assert result.returncode == 1
    assert "doc.1.schema.json" in result.stderr and "$schema" in result.stderr
