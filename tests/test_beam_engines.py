"""Beam with more than one worker: `pingpipe decode` on Beam's portable engine, its SDK harness in
separate worker processes talking the Fn API over gRPC (as on Dataflow Runner v2 and Flink), gives
what the in-process DirectRunner gives: rows, error rows and duplicates.

Two set-ups: the FnApiRunner with two SDK worker processes (`--direct_running_mode
multi_processing --direct_num_workers 2`), and the PortableRunner submitting the pipeline's
portable form to Beam's job service, a separate process, whose worker comes from a separate
worker-pool service (`--environment_type EXTERNAL`). Beam's DaskRunner cannot run the pipeline
(deploy/README.md says why); Dataflow and Flink cannot run here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import PINGPIPE, free_port
from tests.test_runners_agree import contents, messages

BIN = str(Path(sys.executable).parent)


def serve(module: str, *args: str, log: Path) -> tuple[subprocess.Popen, int]:
    """A Beam service (`python -m module --port-flag PORT`) started and answering on its port."""
    port = free_port()
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}  # its workers run `python`
    proc = subprocess.Popen([sys.executable, "-m", module, *args, str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"{module} did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beam-services")
    jobs, job_port = serve("apache_beam.runners.portability.local_job_service_main", "--port", log=folder / "jobs.log")
    pool, pool_port = serve("apache_beam.runners.worker.worker_pool_main", "--service_port", log=folder / "pool.log")
    yield job_port, pool_port
    for proc in (jobs, pool):
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)


def decode_and_load(folder: Path, source: Path, *beam_options: str) -> tuple[str, dict]:
    """`pingpipe decode` to files with these options, then `pingpipe load` into a warehouse of its own."""
    done = subprocess.run([PINGPIPE, "decode", "--input", f"file:{source}", "--output", f"file:{folder}/decoded/part",
                           "--errors", f"file:{folder}/errors/part", *beam_options], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    load = subprocess.run([PINGPIPE, "load", "--input", f"file:{folder}/decoded/part*", "--input", f"file:{folder}/errors/part*",
                           "--data", str(folder / "data")], capture_output=True, text=True, timeout=300)
    assert load.returncode == 0, load.stdout + load.stderr[-3000:]
    summary = next(line for line in done.stdout.splitlines() if line.startswith("read "))
    loaded = next(line for line in load.stdout.splitlines() if line.startswith("loaded "))
    return f"{summary} | {loaded}", contents(folder / "data" / "warehouse.duckdb")


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    folder = tmp_path_factory.mktemp("direct")
    source = folder / "raw.ndjson"
    source.write_bytes(b"".join(messages() * 20))  # each document 20 times more: duplicates across bundles
    return source, decode_and_load(folder, source)


def test_two_sdk_worker_processes_give_what_one_process_gives(in_process, tmp_path):
    source, (summary, tables) = in_process
    assert summary == ("read 300: decoded 9, duplicates 231, errors by type: ParsePayload 40, ParseRawMessage 20"
                       " | loaded 9 row(s), 60 error row(s), 231 duplicate(s)")  # every message in one place
    got = decode_and_load(tmp_path, source, "--direct_running_mode", "multi_processing", "--direct_num_workers", "2")
    assert got == (summary, tables) and len(tables["rows"]) == 9
    assert len(list((tmp_path / "decoded").glob("part-*-of-00002.ndjson"))) == 2  # two bundles, written in parallel


def test_the_portable_runner_with_a_job_service_and_a_worker_pool_gives_the_same(in_process, services, tmp_path):
    source, expected = in_process
    job_port, pool_port = services
    got = decode_and_load(tmp_path, source, "--runner", "PortableRunner", "--job_endpoint", f"localhost:{job_port}",
                          "--environment_type", "EXTERNAL", "--environment_config", f"localhost:{pool_port}")
    assert got == expected


def test_a_duckdb_output_is_refused_when_workers_run_in_several_processes(in_process, tmp_path):
    source, _ = in_process
    done = subprocess.run([PINGPIPE, "decode", "--input", f"file:{source}", "--output", f"duckdb:{tmp_path}/w.duckdb",
                           "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "a DuckDB file is written by one process" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "w.duckdb").exists()
