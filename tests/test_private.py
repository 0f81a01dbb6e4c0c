"""What holds people's data is its owner's alone: a data folder 0700 and every file pingpipe, DuckDB
or the edge writes in it 0600, whatever the umask; a folder an older pingpipe left open is closed."""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import PINGPIPE, run_edge, submit_path
from tests.up.conftest import start_up
from tests.up.test_hardening import demo_ping

pytestmark = pytest.mark.system


@contextmanager
def umask(mask: int):
    """The umask a user may have, for the processes started inside (children inherit it)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    """Every path under the folder (and the folder) -> its permission bits."""
    out = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        if not path.is_symlink():
            out[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def open_to_others(found: dict[str, int], folder: Path) -> dict[str, str]:
    return {p: oct(m) for p, m in found.items() if m != (0o700 if (folder / p).is_dir() else 0o600)}


def test_up_keeps_its_data_folder_and_every_file_in_it_private_whatever_the_umask(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "logs-offsets.json").write_text("{}")  # left by an older pingpipe, readable by all
    os.chmod(data / "logs-offsets.json", 0o644)
    with umask(0o000):
        up = start_up(data)
    try:
        doc = str(uuid.uuid4())
        done = subprocess.run(
            [
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "POST",
                "--data-binary",
                "@-",
                f"http://127.0.0.1:{up.port}/submit/pingpipe-demo/hello/1/{doc}",
            ],
            input=demo_ping({"counter": {"demo.launches": 1}}),
            capture_output=True,
            timeout=30,
        )
        assert done.stdout == b"200"
        up.wait_committed(1)
        running = modes(data)  # the WAL, the state file, the edge's counts, while it runs
        assert "warehouse.duckdb" in running and "logs-offsets.json" in running
        assert open_to_others(running, data) == {}
    finally:
        assert up.stop() == 0
    assert open_to_others(modes(data), data) == {}


def test_the_edge_keeps_its_queue_private_whatever_the_umask(tmp_path):
    queue = tmp_path / "queue"
    with umask(0o000):
        with run_edge(queue, "--segment-max-age", "0.1") as edge:
            done = subprocess.run(
                [
                    "curl",
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-X",
                    "POST",
                    "--data",
                    "{}",
                    f"http://127.0.0.1:{edge.port}{submit_path()}",
                ],
                capture_output=True,
                timeout=30,
            )
            assert done.stdout == b"200"
            found = modes(queue)
    assert len(found) > 1 and open_to_others(found, queue) == {}


def test_logs_ingest_writes_a_private_queue_and_offsets(tmp_path):
    log = tmp_path / "server.log"
    log.write_bytes(b"a line\n")
    data = tmp_path / "data"
    with umask(0o000):
        done = subprocess.run([PINGPIPE, "logs", "ingest", "--data", str(data), str(log)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert open_to_others(modes(data), data) == {}
