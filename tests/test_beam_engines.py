"""Beam with more than one worker: `pingpipe decode` gives what the in-process DirectRunner gives
(rows, error rows and duplicates, once loaded) on

- Beam's DaskRunner, on a real dask.distributed scheduler with two worker processes (`dask
  scheduler`, `dask worker --nworkers 2`), both of which do work (decoder/ondask.py);
- Beam's portable engine, its SDK harness in separate worker processes talking the Fn API over
  gRPC as on Dataflow Runner v2 and Flink: the FnApiRunner with two SDK worker processes, and the
  PortableRunner submitting the pipeline's portable form to Beam's job service, whose worker comes
  from a separate worker-pool service (`--environment_type EXTERNAL`).

Dataflow and Flink cannot run here."""

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


def serve(command: list[str], log: Path, port: int | None = None) -> tuple[subprocess.Popen, int]:
    """A service (`command` + a free port, or `port` given) started and answering on its port."""
    if port is None:
        port = free_port()
        command = [*command, str(port)]
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}  # its workers run `python`
    proc = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"{command[:3]} did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beam-services")
    jobs, job_port = serve([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port"], folder / "jobs.log")
    pool, pool_port = serve([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port"], folder / "pool.log")
    yield job_port, pool_port
    for proc in (jobs, pool):
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A dask.distributed scheduler and two worker processes, each started as an operator would."""
    folder = tmp_path_factory.mktemp("dask")
    port = free_port()
    scheduler, _ = serve(
        [BIN + "/dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], folder / "scheduler.log", port=port
    )
    workers = subprocess.Popen(
        [
            BIN + "/dask",
            "worker",
            f"tcp://127.0.0.1:{port}",
            "--nworkers",
            "2",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--local-directory",
            str(folder),
        ],
        stdout=(folder / "workers.log").open("wb"),
        stderr=subprocess.STDOUT,
        cwd=folder,
        start_new_session=True,
    )
    from distributed import Client

    client = Client(f"tcp://127.0.0.1:{port}", timeout=60)
    client.wait_for_workers(2, timeout=120)
    yield f"tcp://127.0.0.1:{port}", client
    client.close()
    for proc in (workers, scheduler):
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)


def decode_and_load(folder: Path, source: Path, *beam_options: str) -> tuple[str, dict]:
    """`pingpipe decode` to files with these options, then `pingpipe load` into a warehouse of its own."""
    done = subprocess.run(
        [
            PINGPIPE,
            "decode",
            "--input",
            f"file:{source}",
            "--output",
            f"file:{folder}/decoded/part",
            "--errors",
            f"file:{folder}/errors/part",
            *beam_options,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    load = subprocess.run(
        [
            PINGPIPE,
            "load",
            "--input",
            f"file:{folder}/decoded/part*",
            "--input",
            f"file:{folder}/errors/part*",
            "--data",
            str(folder / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
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


@pytest.mark.system
def test_two_sdk_worker_processes_give_what_one_process_gives(in_process, tmp_path):
    source, (summary, tables) = in_process
    assert summary == (
        "read 300: decoded 9, duplicates 231, errors by type: ParsePayload 40, ParseRawMessage 20"
        " | loaded 9 row(s), 60 error row(s), 231 duplicate(s)"
    )  # every message in one place
    got = decode_and_load(tmp_path, source, "--direct_running_mode", "multi_processing", "--direct_num_workers", "2")
    assert got == (summary, tables) and len(tables["rows"]) == 9
    assert len(list((tmp_path / "decoded").glob("part-*-of-00002.ndjson"))) == 2  # two bundles, written in parallel


@pytest.mark.external
def test_the_portable_runner_with_a_job_service_and_a_worker_pool_gives_the_same(in_process, services, tmp_path):
    source, expected = in_process
    job_port, pool_port = services
    got = decode_and_load(
        tmp_path,
        source,
        "--runner",
        "PortableRunner",
        "--job_endpoint",
        f"localhost:{job_port}",
        "--environment_type",
        "EXTERNAL",
        "--environment_config",
        f"localhost:{pool_port}",
    )
    assert got == expected


@pytest.mark.system
def test_a_duckdb_output_is_refused_when_workers_run_in_several_processes(in_process, tmp_path):
    source, _ = in_process
    done = subprocess.run(
        [
            PINGPIPE,
            "decode",
            "--input",
            f"file:{source}",
            "--output",
            f"duckdb:{tmp_path}/w.duckdb",
            "--direct_running_mode",
            "multi_processing",
            "--direct_num_workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "a DuckDB file is written by one process" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "w.duckdb").exists()


@pytest.mark.external
def test_the_dask_runner_on_a_scheduler_and_two_worker_processes_gives_the_same(in_process, dask_cluster, tmp_path):
    source, (summary, tables) = in_process
    address, client = dask_cluster
    done = subprocess.run(
        [
            PINGPIPE,
            "decode",
            "--input",
            f"file:{source}",
            "--output",
            f"file:{tmp_path}/decoded/part",
            "--errors",
            f"file:{tmp_path}/errors/part",
            "--runner",
            "DaskRunner",
            "--dask_client_address",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "decoded on the DaskRunner in" in done.stdout
    load = subprocess.run(
        [
            PINGPIPE,
            "load",
            "--input",
            f"file:{tmp_path}/decoded/part*",
            "--input",
            f"file:{tmp_path}/errors/part*",
            "--data",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert load.returncode == 0, load.stderr[-3000:]
    assert summary.split(" | ")[1] in load.stdout  # "loaded 9 row(s), 60 error row(s), 231 duplicate(s)"
    assert contents(tmp_path / "data" / "warehouse.duckdb") == tables
    executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and all(executed.values()), executed  # both worker processes did work


@pytest.mark.external
def test_the_dask_runner_refuses_what_it_cannot_run_in_one_line(in_process, tmp_path):
    source, _ = in_process
    for extra, message in (
        (["--errors", "file:x", "--streaming"], "batch only"),
        (["--errors", "pubsub:projects/p/topics/t"], "are files"),
    ):
        done = subprocess.run(
            [PINGPIPE, "decode", "--input", f"file:{source}", "--output", f"file:{tmp_path}/o", *extra, "--runner", "DaskRunner"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
