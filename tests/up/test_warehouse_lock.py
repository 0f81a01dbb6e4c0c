"""Another process holding the warehouse file (a `status` reading it while a supervisor restarts `up`):
every open waits for it, a bounded time, then names it in one line. Real processes holding real DuckDB locks."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from pingpipe.loader.writers.duckdb import DuckDBWriter, WarehouseHeld
from pingpipe.loader.writers.locks import LOCK_WAIT
from tests.helpers import PINGPIPE, free_port

pytestmark = pytest.mark.system

HOLD = """
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read-only")
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
"""


@contextmanager
def holder(tmp_path: Path, warehouse: Path, mode: str, seconds: float):
    """A process of its own (hold.py) that opens the warehouse and keeps it `seconds`."""
    script = tmp_path / "hold.py"
    script.write_text(HOLD)
    proc = subprocess.Popen([sys.executable, str(script), str(warehouse), mode, str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "holding\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=20)


@pytest.fixture
def data(tmp_path) -> Path:
    data = tmp_path / "data"
    DuckDBWriter(data / "warehouse.duckdb").close()
    return data


def test_up_starts_once_a_process_reading_the_warehouse_lets_go(run_up, data, tmp_path):
    with holder(tmp_path, data / "warehouse.duckdb", "read-only", 2) as reading:
        up = run_up(data=data)
        assert reading.wait(timeout=10) == 0  # it let go and ended: `up` waited for it rather than fail
    assert up.proc.poll() is None and "tables" in up.status()


def test_status_waits_for_a_process_writing_the_warehouse_to_let_go(data, tmp_path):
    with holder(tmp_path, data / "warehouse.duckdb", "write", 2) as writing:
        done = subprocess.run([PINGPIPE, "status", "--data", str(data)], capture_output=True, text=True, timeout=60)
        assert writing.wait(timeout=10) == 0  # it let go (its exit can lag the release on a busy machine)
    assert done.returncode == 0 and "not running" in done.stdout, done.stdout + done.stderr


def test_a_holder_that_never_lets_go_stops_up_after_the_wait_in_one_line_naming_its_pid(data, tmp_path):
    with holder(tmp_path, data / "warehouse.duckdb", "read-only", 600) as reading:
        started = time.monotonic()
        done = subprocess.run(
            [PINGPIPE, "up", "--data", str(data), "--port", str(free_port()), "--workers", "1"],
            capture_output=True,
            text=True,
            timeout=LOCK_WAIT + 60,
            start_new_session=True,
        )
        took = time.monotonic() - started
        assert reading.poll() is None
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert LOCK_WAIT <= took < LOCK_WAIT + 30
    [line] = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert f"held by PID {reading.pid} (hold.py {data / 'warehouse.duckdb'} read-only 600)" in line, line
    assert not (data / "up.json").exists()


def test_a_writer_waits_as_long_as_it_is_told_then_names_the_holder(data, tmp_path):
    with holder(tmp_path, data / "warehouse.duckdb", "write", 600) as writing:
        started = time.monotonic()
        with pytest.raises(WarehouseHeld, match=f"held by PID {writing.pid} \\(hold.py .* write 600\\) for more than 1 s"):
            DuckDBWriter(data / "warehouse.duckdb", lock_wait=1)
        assert 1 <= time.monotonic() - started < 10
    writer = DuckDBWriter(data / "warehouse.duckdb", lock_wait=1)  # the failed open left nothing behind in this process
    writer.close()
    assert not list(data.glob(".pingpipe-rows-*"))
