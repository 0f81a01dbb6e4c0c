"""pingpipe's pytest plugin (registered as `pingpipe` under pytest11): a real pipeline for an app's tests.

Fixtures:
- `pingpipe_up`: one `pingpipe up` for the session, on free ports in a temporary folder (testkit.py's Pipeline);
  with the app's schemas when the ini names them (`pingpipe_schemas`), or generates them from its
  Glean definitions (`pingpipe_app_id`, `pingpipe_metrics`, `pingpipe_pings`);
- `pingpipe_tag`: a debug tag of its own for each test (X-Debug-ID: Glean's `set_debug_view_tag`).
Nothing is imported from pingpipe until a test asks for one: loading the plugin costs nothing.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addini("pingpipe_schemas", "pingpipe_up: a schema registry folder (default: the schemas shipped with pingpipe)")
    parser.addini("pingpipe_app_id", "pingpipe_up: your Glean application id, to make its schemas from pingpipe_metrics and pingpipe_pings")
    parser.addini("pingpipe_metrics", "pingpipe_up: your metrics.yaml files", type="paths")
    parser.addini("pingpipe_pings", "pingpipe_up: your pings.yaml files", type="paths")


def _schemas(config, folder: Path) -> Path | None:
    named = config.getini("pingpipe_schemas")
    if named:
        return Path(config.rootpath, named)
    app_id = config.getini("pingpipe_app_id")
    if not app_id:
        return None
    out = folder / "schemas"
    cmd = [sys.executable, "-m", "pingpipe.cli", "schemas", "glean", "--app-id", app_id, "--out", str(out)]
    cmd += [arg for path in config.getini("pingpipe_metrics") for arg in ("--metrics", str(path))]
    cmd += [arg for path in config.getini("pingpipe_pings") for arg in ("--pings", str(path))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise pytest.UsageError(f"pingpipe could not make your app's schemas: {done.stderr.strip()}")
    return out


@pytest.fixture(scope="session")
def pingpipe_up(tmp_path_factory, pytestconfig):
    """A running `pingpipe up` (testkit.Pipeline): send to `.edge_url`, then ask `.wait_for_ping`,
    `.assert_valid`, `.assert_rejected` and `.trace`."""
    from .testkit import Pipeline

    folder = tmp_path_factory.mktemp("pingpipe")
    pipeline = Pipeline(folder / "data", schemas=_schemas(pytestconfig, folder)).start()
    yield pipeline
    pipeline.stop()


@pytest.fixture
def pingpipe_tag() -> str:
    """A debug tag (letters, digits and "-", shorter than Glean's 20) no other test uses."""
    return "t-" + uuid.uuid4().hex[:16]
