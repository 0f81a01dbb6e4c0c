"""The loader tests' schema repository: the test schemas and the captured Glean app's."""

from __future__ import annotations

import shutil

import pytest

from ..fixtures import GLEAN_APP_ID, GLEAN_DEFINITIONS


@pytest.fixture(scope="module")
def schemas(tmp_path_factory, registry_root):
    from click.testing import CliRunner

    from pingpipe.cli import main

    root = tmp_path_factory.mktemp("schemas")
    shutil.copytree(registry_root, root, dirs_exist_ok=True)
    r = CliRunner().invoke(main, ["schemas", "glean", "--app-id", GLEAN_APP_ID, *GLEAN_DEFINITIONS, "--out", str(root)])
    assert r.exit_code == 0
    return root
