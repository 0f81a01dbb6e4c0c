"""Shared test fixtures: paths to ../shared (the data beside the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "fixtures").resolve()
MPS = SHARED / "mps"

if not SHARED.is_dir():  # a missing fixture tree must fail loudly, never skip tests
    raise RuntimeError(f"test fixtures not found at {SHARED}: clone the repo beside shared/")


@pytest.fixture(scope="session")
def mps_schemas() -> Path:
    return MPS / "schemas"


@pytest.fixture(scope="session")
def mps_validation() -> Path:
    return MPS / "validation"
