"""pingpipe's transpiler reproduces the `.bq` files Mozilla's pipeline generated for mozilla-pipeline-schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pingpipe.schemas.build import bq_for_file

from .data import files

# burnham's .bq files come from Glean metric definitions, not from its JSON schema: they are
# checked by test_glean_burnham.py through `pingpipe schemas glean`.
PAIRS = [p for p in files("mps/schemas", "*/*/*.bq") if p.parts[-3] != "burnham"]
PINGPIPE = Path(sys.executable).with_name("pingpipe")


def test_every_visible_fixture_pair_is_collected():
    assert len(PAIRS) >= 14


@pytest.mark.parametrize("bq_path", PAIRS, ids=lambda p: "/".join(p.parts[-3:]))
def test_transpiler_reproduces_mozilla_bq_exactly(bq_path: Path, mps_schemas):
    schema_path = bq_path.with_name(bq_path.name[: -len(".bq")] + ".schema.json")
    got = bq_for_file(schema_path, mps_schemas)
    assert got == json.loads(bq_path.read_text())


@pytest.mark.system
def test_build_reproduces_every_visible_mozilla_bq(tmp_path, mps_schemas):
    result = subprocess.run(
        [str(PINGPIPE), "schemas", "build", str(mps_schemas), "--out", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    compared = 0
    for want in mps_schemas.glob("*/*/*.bq"):
        if want.parts[-3] == "burnham":
            continue  # per-metric columns: see test_glean_burnham.py
        got = tmp_path / want.relative_to(mps_schemas)
        assert json.loads(got.read_text()) == json.loads(want.read_text()), want
        compared += 1
    assert compared == 14
    assert len(list(tmp_path.rglob("*.bq"))) == len(list(mps_schemas.rglob("*.schema.json")))
