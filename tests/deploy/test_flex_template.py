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
def test_the_launch_script_uses_flags_gcloud_has():
    if shutil.which("gcloud") is None:
        if os.environ.get("CI"):
            raise RuntimeError("gcloud is required in CI")
        pytest.skip("gcloud is not installed")
    script = (DATAFLOW / "launch.sh").read_text()
    calls = re.findall(r"gcloud dataflow flex-template (build|run) (.*?)(?<!\\)\n", script, flags=re.S)
    assert {verb for verb, _ in calls} == {"build", "run"}
    for verb, text in calls:
        used = set(re.findall(r"(--[a-z][a-z-]*)", text))
        assert used and used <= gcloud_flags("dataflow", "flex-template", verb) | {"--project"}, (verb, used)
    assert subprocess.run(["bash", "-n", str(DATAFLOW / "launch.sh")]).returncode == 0
    usage = subprocess.run([str(DATAFLOW / "launch.sh")], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "PROJECT REGION BUCKET VERSION SUBSCRIPTION" in usage.stderr
