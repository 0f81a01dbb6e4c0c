"""Faults the edge must survive without losing an accepted ping."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from ..helpers import load, queued_doc_ids, run_edge, submit_path, wait_until

pytestmark = pytest.mark.system

URI = "/submit/eng-workflow/hgpush/1/2c3a0767-d84a-4d02-8a92-fa54a3376049"


def test_kill_9_mid_load_every_200_is_in_the_queue_after_restart(tmp_path):
    queue = tmp_path / "queue"
    results = {}
    with run_edge(queue) as edge:

        def drive():
            results["load"] = load(edge.port, 20000, threads=8)

        thread = threading.Thread(target=drive)
        thread.start()
        time.sleep(1.0)
        edge.kill()  # SIGKILL, mid-load
        thread.join()
    accepted = results["load"].ok
    assert len(accepted) > 100, "the load did not get going before the kill"
    assert results["load"].errors > 0, "the kill did not interrupt the load"
    with run_edge(queue, "--segment-max-age", "0.2"):
        # restart recovery seals the dead worker's open segment
        assert wait_until(lambda: not [p for p in queue.glob("*.ndjson.open") if p.stat().st_size])
        queued = queued_doc_ids(queue, include_open=False)
    missing = set(accepted) - set(queued)
    assert not missing, f"{len(missing)} acknowledged pings lost"
    assert len(queued) == len(set(queued)), "a ping was stored twice"


@contextmanager
def small_disk(path, size_mb: int):
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"cannot mount a small tmpfs to fill ({exc}); needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_floor_gives_507_and_recovers_when_there_is_room(tmp_path):
    with small_disk(tmp_path / "disk", 8) as disk:
        queue = disk / "queue"
        ballast = disk / "ballast"
        with run_edge(queue, "--min-free-bytes", str(4 * 1024 * 1024)) as edge:
            assert httpx.post(edge.url + URI, content=b"{}").status_code == 200
            ballast.write_bytes(b"\0" * (5 * 1024 * 1024))
            time.sleep(0.4)  # free space is re-read at most every 0.25 s
            assert httpx.post(edge.url + URI, content=b"{}").status_code == 507
            heartbeat = httpx.get(edge.url + "/__heartbeat__")
            assert heartbeat.status_code == 507 and "floor" in heartbeat.text
            ballast.unlink()
            time.sleep(0.4)
            assert httpx.post(edge.url + URI, content=b"{}").status_code == 200
            assert httpx.get(edge.url + "/__heartbeat__").status_code == 200


def test_a_full_disk_is_507_and_leaves_no_torn_line(tmp_path):
    with small_disk(tmp_path / "disk", 2) as disk:
        queue = disk / "queue"
        with run_edge(queue, "--min-free-bytes", "0", "--segment-max-age", "0.2") as edge:
            ok = httpx.post(edge.url + submit_path(doc_id="77777777-7777-4777-8777-777777777777"), content=b"{}")
            assert ok.status_code == 200
            fd = os.open(disk / "ballast", os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass  # the disk is full
            finally:
                os.close(fd)
            statuses = {httpx.post(edge.url + URI, content=b"y" * 200_000).status_code for _ in range(5)}
            assert statuses == {507}
            (disk / "ballast").unlink()
            assert httpx.post(edge.url + URI, content=b"{}").status_code == 200
            time.sleep(0.5)
        assert "77777777-7777-4777-8777-777777777777" in queued_doc_ids(queue)  # every line parses


def test_bad_configuration_fails_fast_with_a_clear_message(tmp_path):
    from ..helpers import PINGPIPE

    def run(*args):
        return subprocess.run([PINGPIPE, "edge", *args], capture_output=True, text=True, timeout=30)

    r = run()
    assert r.returncode != 0 and "--queue" in r.stderr
    r = run("--pubsub-project", "p")
    assert r.returncode != 0 and "route-table" in r.stderr
    bad = tmp_path / "routes.json"
    bad.write_text("[[1, 2]]")
    r = run("--pubsub-project", "p", "--route-table", str(bad))
    assert r.returncode != 0 and "entry 0" in r.stderr
    bad.write_text("{nope")
    r = run("--pubsub-project", "p", "--route-table", str(bad))
    assert r.returncode != 0 and "invalid JSON" in r.stderr
    locked = tmp_path / "locked"
    locked.write_text("a file, not a directory")
    r = run("--queue", str(locked))
    assert r.returncode != 0 and "is a file" in r.stderr
    r = run("--queue", str(locked / "sub"))
    assert r.returncode != 0 and "queue directory" in r.stderr
    r = run("--queue", str(tmp_path / "q"), "--port", "70000")
    assert r.returncode != 0 and "port" in r.stderr


def test_on_sigterm_a_request_still_sending_its_body_gets_the_drain_time_not_the_body_timeout(tmp_path):
    """A pod being stopped: requests in flight get --shutdown-drain-seconds to finish, then the edge
    goes on to its flush and exits, well inside a grace period sized from both (deploy/kubernetes)."""
    import signal
    import socket

    with run_edge(tmp_path / "q", "--shutdown-drain-seconds", "1", "--body-timeout", "60") as edge:
        with socket.create_connection(("127.0.0.1", edge.port)) as slow:
            head = f"POST {submit_path()} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
            slow.sendall(head.encode() + b"{")  # 99 bytes never come
            time.sleep(0.5)  # the request is in flight
            stopped = time.monotonic()
            edge.proc.send_signal(signal.SIGTERM)
            assert edge.proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
            assert time.monotonic() - stopped < 10  # not the body's 60 s
