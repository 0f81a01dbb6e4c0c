"""The commands a user runs most (`query`, `status`, `audit`) start without the server side: no web
framework, no Arrow, no Beam. They load the warehouse or ask the running `up`, nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pingpipe.loader.writers.duckdb import DuckDBWriter

pytestmark = pytest.mark.system

SERVER_SIDE = ("fastapi", "starlette", "uvicorn", "pyarrow", "apache_beam", "sqlglot")
# The command as the `pingpipe` script runs it, then which of SERVER_SIDE it loaded.
RUN = """
import atexit, sys
atexit.register(lambda: print(sorted({m.split(".")[0] for m in sys.modules} & set(%r)), file=sys.stderr))
sys.argv = ["pingpipe", *sys.argv[1:]]
from pingpipe.cli import main
main()
"""


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["status"], ["audit"], ["--help"]])
def test_a_reading_command_loads_nothing_of_the_server_side(command, tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    DuckDBWriter(data / "warehouse.duckdb").close()  # a warehouse, so that each command runs through
    args = command if command == ["--help"] else [command[0], "--data", str(data), *command[1:]]
    done = subprocess.run([sys.executable, "-c", RUN % (SERVER_SIDE,), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr
