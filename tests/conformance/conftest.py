"""The conformance layer: pingpipe against Mozilla's own data (schemas, validation documents, the
decoder's and the transpiler's test data, real apps' definitions, MaxMind's test database). Every
test here is marked `conformance`; without the data they skip with one reason (under CI they fail)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .data import DATA, MISSING

HERE = Path(__file__).resolve().parent

if DATA is None and os.environ.get("CI"):
    raise RuntimeError(f"CI runs the conformance layer: {MISSING}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.conformance)
            if DATA is None:  # first, before an empty parameter set's own skip: one reason for the layer
                item.add_marker(pytest.mark.skip(reason=MISSING), append=False)


@pytest.fixture(scope="session")
def shared() -> Path:
    return DATA


@pytest.fixture(scope="session")
def mps_schemas(shared) -> Path:
    return shared / "mps" / "schemas"


@pytest.fixture(scope="session")
def mps_validation(shared) -> Path:
    return shared / "mps" / "validation"


@pytest.fixture(scope="session")
def mozilla_registry(tmp_path_factory, mps_schemas) -> Path:
    """MPS's schemas plus Mozilla's permissive `test/test/1` schema, which gcp-ingestion's decoder
    test messages are sent to."""
    root = tmp_path_factory.mktemp("mps-schemas")
    shutil.copytree(mps_schemas, root, dirs_exist_ok=True)
    (root / "test" / "test").mkdir(parents=True)
    (root / "test" / "test" / "test.1.schema.json").write_text(
        json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"})
    )
    return root


@pytest.fixture(scope="session")
def maxmind_db(shared) -> Path:
    """MaxMind's own test City database, which gcp-ingestion's expected geo attributes come from."""
    return shared / "geoip" / "GeoIP2-City-Test.mmdb"
