"""deploy/Dockerfile, built and run for real with podman (the base image made from Debian's packages,
as no registry image can be pulled here): a ping POSTed to the container is answered 200 and queued."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.external

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["podman", "runc", "debootstrap"]


def container_tools() -> None:
    """podman, runc and debootstrap from Debian's packages (installed here as the emulator is)."""
    if all(shutil.which(t) or Path(f"/usr/sbin/{t}").exists() for t in PACKAGES):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if os.geteuid() == 0 and shutil.which("apt-get"):
        cmd = ["apt-get", "install", "-y", "-q", *PACKAGES]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(cmd, env=env, capture_output=True)
    if not all(shutil.which(t) or Path(f"/usr/sbin/{t}").exists() for t in PACKAGES):
        if os.environ.get("CI"):
            raise RuntimeError(f"{', '.join(PACKAGES)} are required in CI and could not be installed")
        pytest.skip("podman, runc and debootstrap are not installed and could not be")


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    container_tools()
    tag = f"localhost/pingpipe:test-{uuid.uuid4().hex[:8]}"
    work = tmp_path_factory.mktemp("image")
    done = subprocess.run(
        [str(REPO / "deploy" / "build-image.sh"), tag],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "WORK": str(work)},
        cwd=REPO,
    )
    logs = "".join(p.read_text()[-3000:] for p in work.glob("*.log"))
    assert done.returncode == 0, done.stderr[-3000:] + logs
    yield tag
    subprocess.run(["podman", "rmi", "-f", tag], capture_output=True)


def test_the_image_answers_a_ping_with_200_and_queues_it_as_a_non_root_user(image, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o777)
    port = free_port()
    name = f"pingpipe-edge-{uuid.uuid4().hex[:8]}"
    run = [
        "podman",
        "--runtime",
        shutil.which("runc") or "/usr/sbin/runc",
        "run",
        "-d",
        "--name",
        name,
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-v",
        f"{spool}:/spool",
        image,
        "edge",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--queue",
        "/spool",
        "--segment-max-age",
        "0.2",
        "--min-free-bytes",
        "0",
    ]
    started = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/__lbheartbeat__", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, subprocess.run(["podman", "logs", name], capture_output=True, text=True).stderr
            time.sleep(0.2)
        doc_id = str(uuid.uuid4())
        answer = httpx.post(f"http://127.0.0.1:{port}/submit/eng-workflow/hgpush/1/{doc_id}", content=b'{"a": 1}')
        assert answer.status_code == 200
        time.sleep(1)
        queued = b"".join(p.read_bytes() for p in spool.glob("*.ndjson*"))
        assert doc_id.encode() in queued
        user = subprocess.run(["podman", "exec", name, "id", "-u"], capture_output=True, text=True).stdout.strip()
        assert user == "10001"
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, timeout=60)
