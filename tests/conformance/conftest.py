"""The conformance layer: pingpipe against Mozilla's own data (schemas, validation documents, the
decoder's and the transpiler's test data, real apps' definitions, MaxMind's test database). Every
test here is marked `conformance`; without the data they skip with one reason (under CI they fail)."""

from __future__ import annotations

import os
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
            if DATA is None:
                item.add_marker(pytest.mark.skip(reason=MISSING))


@pytest.fixture(scope="session")
def shared() -> Path:
    return DATA


@pytest.fixture(scope="session")
def mps_schemas(shared) -> Path:
    return shared / "mps" / "schemas"


@pytest.fixture(scope="session")
def mps_validation(shared) -> Path:
    return shared / "mps" / "validation"
