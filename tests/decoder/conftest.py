from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..conftest import MPS, SHARED

MMDB = SHARED / "geoip" / "GeoIP2-City-Test.mmdb"


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory) -> Path:
    """The MPS fixture schemas plus Mozilla's permissive `test/test/1` schema, which the
    gcp-ingestion decoder fixtures are sent to."""
    root = tmp_path_factory.mktemp("schemas")
    shutil.copytree(MPS / "schemas", root, dirs_exist_ok=True)
    (root / "test" / "test").mkdir(parents=True)
    (root / "test" / "test" / "test.1.schema.json").write_text(
        json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}))
    return root
