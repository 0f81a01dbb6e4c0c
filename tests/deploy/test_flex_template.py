"""The Dataflow Flex Template (deploy/dataflow/): what can be proven without Dataflow. Its metadata
names options `pingpipe decode` has; its Python file, run as the launcher runs it (parameters as
--name=value, then Dataflow's options), builds and runs the pipeline; its launch script uses flags
the real gcloud has. Building the launcher image needs Google's launcher image, on a registry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from pingpipe.cli.decode import decode
from pingpipe.cli.template import decode_options, template_args
from pingpipe.message import encode_line
from tests.fixtures.demo import demo_ping

REPO = Path(__file__).resolve().parents[2]
DATAFLOW = REPO / "deploy" / "dataflow"
METADATA = json.loads((DATAFLOW / "metadata.json").read_text())
PARAMETER_KEYS = {"name", "label", "helpText", "isOptional", "regexes", "paramType", "parentName", "parentTriggerValues"}


def test_every_parameter_is_an_option_of_decode_and_the_required_ones_are_required():
    assert set(METADATA) <= {
        "name",
        "description",
        "streaming",
        "parameters",
        "supportsAtLeastOnce",
        "supportsExactlyOnce",
        "defaultStreamingMode",
    }
    options = decode_options()
    required = {p.name.replace("_spec", "") for p in decode.params if p.required}
    for parameter in METADATA["parameters"]:
        assert set(parameter) <= PARAMETER_KEYS and re.fullmatch(r"[a-z][a-z0-9_]*", parameter["name"]), parameter
        assert parameter["name"].replace("_", "-") in options, parameter["name"]
        assert parameter["isOptional"] == (parameter["name"] not in required), parameter["name"]
        for regex in parameter["regexes"]:
            re.compile(regex)
    assert required == {"input", "output"}


@pytest.mark.parametrize(
    "name, good, bad",
    [
        ("input", "pubsub:projects/p/subscriptions/raw-decoder", "pubsub:projects/p/topics/raw"),
        ("output", "bigquery:my-project", "duckdb:/tmp/w.duckdb"),
        ("output", "pubsub:projects/p/topics/decoded", "file:/tmp/out"),
        ("errors", "pubsub:projects/p/topics/errors", "bigquery:p"),
        ("geoip_db", "/opt/geoip/GeoIP2-City.mmdb", "gs://bucket/GeoIP2-City.mmdb"),
        ("dedupe_window", "86400", "a day"),
        ("forwarded_hops", "2", "-1"),
        ("schemas", "gs://my-bucket/schemas/2026-12-07.tar.gz", "/opt/schemas"),
        ("dead_letter", "gs://my-bucket/dead-letter", "/var/dead"),
        ("bigquery_location", "europe-west1", "eu; DROP"),
        ("bigquery_location", "EU", "Europe West"),
    ],
)
def test_the_parameter_checks_take_what_decode_takes_at_scale(name, good, bad):
    (parameter,) = [p for p in METADATA["parameters"] if p["name"] == name]
    assert any(re.fullmatch(r, good) for r in parameter["regexes"])
    assert not any(re.fullmatch(r, bad) for r in parameter["regexes"])


def test_parameters_become_decode_options_and_dataflows_stay_beams():
    args = template_args(
        [
            "--input=pubsub:projects/p/subscriptions/s",
            "--geoip_db=/opt/geoip/x.mmdb",
            "--dedupe_window=60",
            "--temp_location=gs://b/tmp",
            "--sdk_container_image=img",
            "--runner=DataflowRunner",
        ],
        decode_options(),
    )
    assert args == [
        "--input=pubsub:projects/p/subscriptions/s",
        "--geoip-db=/opt/geoip/x.mmdb",
        "--dedupe-window=60",
        "--temp_location=gs://b/tmp",
        "--sdk_container_image=img",
        "--runner=DataflowRunner",
    ]


@pytest.mark.system
def test_the_python_file_runs_the_pipeline_as_the_launcher_calls_it(tmp_path):
    raw = tmp_path / "raw.ndjson"
    ping = demo_ping(client_id=str(uuid.uuid4()))
    raw.write_bytes(
        encode_line(
            json.dumps(ping).encode(),
            {"uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}", "submission_timestamp": "2026-11-23T10:00:00.000000Z"},
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            str(DATAFLOW / "main.py"),
            f"--input=file:{raw}",
            f"--output=file:{tmp_path}/dec/part",
            f"--errors=file:{tmp_path}/err/part",
            "--max_payload_bytes=1000000",
            "--dedupe_window=60",
            "--runner=DirectRunner",
            "--project=p",
            "--job_name=pingpipe-decoder-test",
            f"--temp_location={tmp_path}/tmp",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "read 1: decoded 1, duplicates 0, errors by type: none" in done.stdout
    assert len(b"".join(p.read_bytes() for p in (tmp_path / "dec").glob("part*")).splitlines()) == 1


@pytest.mark.external
def test_the_launcher_submits_a_streaming_job_and_exits(tmp_path, storage):
    """As the Flex Template launcher runs it: --template_location makes the DataflowRunner write the job
    rather than submit it, so there is no job to wait for nor counters to read; `decode` says where
    the job went and exits 0 (it asked for counters and died with "Job id is unknown")."""
    image = "europe-west1-docker.pkg.dev/p/pingpipe/beam-worker@sha256:" + "0" * 64
    done = subprocess.run(
        [
            sys.executable,
            str(DATAFLOW / "main.py"),
            "--input=pubsub:projects/my-project/subscriptions/raw-decoder",
            "--output=bigquery:my-project",
            "--bigquery_location=EU",
            "--dedupe_window=600",
            "--runner=DataflowRunner",
            "--project=my-project",
            "--region=europe-west1",
            "--temp_location=gs://stage/tmp",
            "--template_location=gs://stage/templates/decoder.json",
            "--sdk_location=container",
            f"--sdk_container_image={image}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "STORAGE_EMULATOR_HOST": storage, "GOOGLE_CLOUD_PROJECT": "my-project"},
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.strip() == "wrote the job's template to gs://stage/templates/decoder.json; nothing was run"
    with urllib.request.urlopen(f"{storage}/download/storage/v1/b/stage/o/templates%2Fdecoder.json?alt=media", timeout=30) as r:
        job = json.load(r)
    assert job["type"] == "JOB_TYPE_STREAMING"
    (pool,) = job["environment"]["workerPools"]
    assert pool["workerHarnessContainerImage"] == image


def gcloud_flags(*command: str) -> set[str]:
    out = subprocess.run(
        ["gcloud", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "PAGER": "cat", "TERM": "dumb"},
    )
    assert out.returncode == 0, out.stderr
    return set(re.findall(r"(--[a-z][a-z-]*)", re.sub(r"\x1b\[[0-9;]*m", "", out.stdout)))


@pytest.mark.external
def test_the_build_and_launch_scripts_use_flags_gcloud_has():
    if shutil.which("gcloud") is None:
        if os.environ.get("CI"):
            raise RuntimeError("gcloud is required in CI")
        pytest.skip("gcloud is not installed")
    for script, verb in (("build.sh", "build"), ("launch.sh", "run")):
        text = (DATAFLOW / script).read_text()
        calls = re.findall(r"gcloud dataflow flex-template (build|run) (.*?)(?<!\\)\n", text, flags=re.S)
        assert [v for v, _ in calls] == [verb], script
        used = set(re.findall(r"(--[a-z][a-z-]*)", calls[0][1])) | ({"--update"} if verb == "run" else set())  # launch.sh --update
        assert used and used <= gcloud_flags("dataflow", "flex-template", verb) | {"--project"}, (script, used)


FAKE = """#!/usr/bin/env bash
# A stand-in for {name}: this machine reaches no registry and no Google Cloud project. It records its
# arguments; `inspect` answers what a push gives an image, its repository and digest.
echo "{name} $*" >> "$CALLS"
if [ "$1" = inspect ]; then echo "${{@: -1}}" | sed 's/:[^:/]*$/@sha256:'"$(printf %064d 7)"'/'; fi
"""


@pytest.mark.system
def test_a_release_is_built_once_and_launched_by_digest_without_building(tmp_path):
    """build.sh with stand-ins for docker and gcloud (FAKE): every image built once and pushed, the
    template and the release file naming images by digest; launch.sh then only runs the template."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "gcloud"):
        (bin_dir / name).write_text(FAKE.format(name=name))
        (bin_dir / name).chmod(0o755)
    calls, release = tmp_path / "calls", tmp_path / "release.env"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "BIGQUERY_LOCATION": "EU"}
    usage = subprocess.run([str(DATAFLOW / "build.sh")], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "PROJECT REGION BUCKET VERSION [RELEASE_FILE]" in usage.stderr
    build = [str(DATAFLOW / "build.sh"), "p", "europe-west1", "b", "1.0", str(release)]
    unpinned = subprocess.run(build, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)  # deploy/bases.env as committed
    assert unpinned.returncode == 1 and "PYTHON_BASE is not named by digest (python:3.11-slim)" in unpinned.stderr, unpinned.stderr
    assert not calls.exists()  # nothing built
    bases = tmp_path / "bases.env"
    bases.write_text((REPO / "deploy" / "bases.env").read_text())
    (beam,) = (line.split("=", 1)[1] for line in bases.read_text().splitlines() if line.startswith("BEAM_BASE="))
    pinned = subprocess.run([str(REPO / "deploy" / "pin-bases.sh"), str(bases)], env=env, capture_output=True, text=True, timeout=60)
    digest = "@sha256:" + "0" * 63 + "7"
    assert pinned.returncode == 0 and f"PYTHON_BASE=python:3.11-slim{digest}\n" in pinned.stdout, pinned.stdout + pinned.stderr
    assert calls.read_text().splitlines()[:2] == [
        "docker pull python:3.11-slim",
        "docker inspect --format {{index .RepoDigests 0}} python:3.11-slim",
    ]
    assert bases.read_text().startswith("#") and f"BEAM_BASE={beam}{digest}" in bases.read_text()
    calls.unlink()
    built = subprocess.run(build, env={**env, "BASES": str(bases)}, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    repo = "europe-west1-docker.pkg.dev/p/pingpipe"
    values = dict(line.split("=", 1) for line in release.read_text().splitlines())
    assert values["WORKER"] == f"{repo}/beam-worker{digest}" and values["LAUNCHER"] == f"{repo}/decoder-launcher{digest}"
    lines = calls.read_text().splitlines()
    builds = [line for line in lines if line.startswith("docker build")]
    assert len(builds) == 3 and all(" -f deploy/" in b for b in builds)
    assert any("--build-arg LOCK=requirements-dataflow.lock" in b for b in builds)  # the workers' lock
    assert sum(f"--build-arg BASE=python:3.11-slim{digest}" in b or f"--build-arg BEAM_BASE={beam}{digest}" in b for b in builds) == 2
    assert sum(line.startswith("docker push") for line in lines) == 2
    (template,) = [line for line in lines if line.startswith("gcloud dataflow flex-template build")]
    assert f"--image {values['LAUNCHER']}" in template

    calls.unlink()
    usage = subprocess.run([str(DATAFLOW / "launch.sh")], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "RELEASE_FILE SUBSCRIPTION" in usage.stderr
    unplaced = subprocess.run(
        [str(DATAFLOW / "launch.sh"), str(release), "raw-decoder"], env={**env, "BIGQUERY_LOCATION": ""}, capture_output=True, text=True
    )
    assert unplaced.returncode != 0 and "set BIGQUERY_LOCATION" in unplaced.stderr and not calls.exists()
    launched = subprocess.run(
        [str(DATAFLOW / "launch.sh"), str(release), "raw-decoder", "dedupe_window=60"], env=env, capture_output=True, text=True, timeout=60
    )
    assert launched.returncode == 0, launched.stderr
    (run,) = calls.read_text().splitlines()  # nothing built or pushed
    assert run.startswith("gcloud dataflow flex-template run pingpipe-decoder-raw-decoder --project p")  # one job per subscription
    assert f"--template-file-gcs-location {values['TEMPLATE']}" in run
    assert "raw-decoder,output=bigquery:p,bigquery_location=EU,forwarded_hops=2,dead_letter=gs://b/dead-letter,dedupe_window=60" in run
    assert f"sdk_container_image={values['WORKER']}" in run
    calls.unlink()
    update = [str(DATAFLOW / "launch.sh"), str(release), "Raw_Decoder", "--update", "forwarded_hops=3"]
    updated = subprocess.run(update, env=env, capture_output=True, text=True, timeout=60)
    assert updated.returncode == 0, updated.stderr
    (run,) = calls.read_text().splitlines()
    assert run.startswith("gcloud dataflow flex-template run pingpipe-decoder-raw-decoder --update --project p"), run
    assert (
        "bigquery_location=EU,dead_letter=gs://b/dead-letter,forwarded_hops=3,sdk_container_image" in run
    )  # the operator's, not the default
