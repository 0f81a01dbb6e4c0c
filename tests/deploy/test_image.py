"""deploy/Dockerfile, built and run for real with podman (the base image made from Debian's packages,
as no registry image can be pulled here): a ping POSTed to the container is answered 200 and queued.
deploy/config.Dockerfile on top of it runs the daily CronJob's own arguments."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import free_port

pytestmark = pytest.mark.external

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["podman", "runc", "debootstrap"]
# runc, with limits this sandbox lets a container set
RUNC = shutil.which("runc") or "/usr/sbin/runc"
PODMAN_RUN = ["podman", "--runtime", RUNC, "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


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
        *PODMAN_RUN,
        "-d",
        "--name",
        name,
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


EMPTY = (  # an empty warehouse, then pingpipe with the arguments given
    "mkdir -m 700 /tmp/data && python -c 'from pingpipe.loader.writers.duckdb import DuckDBWriter as W; "
    'W("/tmp/data/warehouse.duckdb").close()\' && exec pingpipe "$@"'
)


def test_the_config_image_runs_the_daily_cronjobs_arguments_as_its_user(image, tmp_path):
    """The CronJob's container args, as the manifest gives them, on the config image built from a
    folder of schemas/, sql/ and user_ids.yaml (BigQuery swapped for a DuckDB file on a tmpfs)."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "schemas" / "data" / "pingpipe-demo", config / "schemas" / "pingpipe-demo")
    query = config / "sql" / "pingpipe_demo_derived" / "hello_daily_v1"
    query.mkdir(parents=True)
    (query / "query.sql").write_text(
        "SELECT DATE(submission_timestamp) AS submission_date, count(*) AS pings FROM pingpipe_demo_stable.hello_v1 "
        "WHERE DATE(submission_timestamp) = @submission_date GROUP BY 1"
    )
    (config / "user_ids.yaml").write_text('- family: "*"\n  column: client_info.client_id\n')
    for path in [config, *config.rglob("*")]:  # as a private umask leaves them: the image must still read them
        path.chmod(0o700 if path.is_dir() else 0o600)
    tag = f"localhost/pingpipe-config:test-{uuid.uuid4().hex[:8]}"
    built = subprocess.run(
        [
            "podman",
            "build",
            "-q",
            "-f",
            str(REPO / "deploy" / "config.Dockerfile"),
            "--build-arg",
            f"PINGPIPE={image}",
            "-t",
            tag,
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        (cron,) = [
            d for d in yaml.safe_load_all((REPO / "deploy" / "kubernetes" / "daily-cycle.yaml").read_text()) if d["kind"] == "CronJob"
        ]
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert container["image"].rsplit("/", 1)[1] == "pingpipe-config:CONFIG_VERSION"
        args = container["args"]
        at = args.index("--warehouse")
        args = [*args[:at], "--data", "/tmp/data", *args[at + 2 :]]  # no BigQuery here
        done = subprocess.run(
            [*PODMAN_RUN, "--rm", "--read-only", "--tmpfs", "/tmp", "--network=none", "--entrypoint=sh", tag, "-c", EMPTY, "-", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "daily cycle for " in done.stdout, done.stdout  # an empty warehouse: the image's query is found, and waits
        assert "/config/sql/pingpipe_demo_derived/hello_daily_v1/query.sql: not run, pingpipe_demo_stable.hello_v1 has" in done.stdout
    finally:
        subprocess.run(["podman", "rmi", "-f", tag], capture_output=True, timeout=120)
