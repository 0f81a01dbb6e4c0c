"""The project's own tests need nothing outside the repository: only the conformance layer
(tests/conformance/) reads Mozilla's data beside the clone; every other test and benchmark reads tests/fixtures/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A path into the folder beside the clone, however it is spelt: "../shared", `/ ".." / "shared"`, parents[n] / "shared".
BESIDE = re.compile(r"""\.\./shared|["']\.\.["']\s*/\s*["']shared["']|parents\[\d\]\s*/\s*["']\.\.["']|/\s*["']shared["']""")


def test_no_test_or_benchmark_outside_the_conformance_layer_reads_the_folder_beside_the_clone():
    conformance = REPO / "tests" / "conformance"
    files = [
        p
        for folder in ("tests", "benchmarks")
        for p in (REPO / folder).rglob("*.py")
        if conformance not in p.parents and p != Path(__file__).resolve()
    ]  # this file spells them out
    assert len(files) > 100
    offenders = [f"{p.relative_to(REPO)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1) if BESIDE.search(line)]
    assert offenders == []


def test_the_pattern_finds_each_spelling_of_a_path_beside_the_clone():
    for line in (
        'ROOT / ".." / "shared" / "fixtures"',
        'Path("../shared/fixtures")',
        'REPO.parents[1] / ".." / "x"',
        'HERE / "shared" / "glean"',
    ):
        assert BESIDE.search(line), line
    assert not BESIDE.search("from pingpipe.decoder.pipeline import shared_decoder")
