"""schemas/bundle.py: `--schemas gs://BUCKET/schemas.tar.gz`, a registry fetched from storage (the
real GCS server of gcp-storage-emulator) by the decoder, as Dataflow's workers would at start."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import urllib.parse
import urllib.request
import uuid

import pytest

from pingpipe.message import encode_line
from pingpipe.schemas.registry import Registry
from tests.fixtures.demo import demo_ping
from tests.helpers import PINGPIPE


def upload(storage: str, name: str, data: bytes) -> str:
    query = urllib.parse.urlencode({"uploadType": "media", "name": name})
    request = urllib.request.Request(f"{storage}/upload/storage/v1/b/stage/o?{query}", data=data, method="POST")
    urllib.request.urlopen(request, timeout=30).read()
    return f"gs://stage/{name}"


@pytest.mark.external
def test_decode_reads_a_registry_bundle_from_storage(tmp_path, storage):
    """A namespace only the bundle has (acme-demo): decoded with it, an error without it."""
    root = tmp_path / "registry"
    shutil.copytree(Registry.load().root / "pingpipe-demo", root / "acme-demo")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as bundle:
        bundle.add(root, arcname=".")
    url = upload(storage, "schemas/2026-12-07.tar.gz", packed.getvalue())
    raw = tmp_path / "raw.ndjson"
    attributes = {"uri": f"/submit/acme-demo/hello/1/{uuid.uuid4()}", "submission_timestamp": "2026-12-06T10:00:00.000000Z"}
    raw.write_bytes(encode_line(json.dumps(demo_ping(client_id=str(uuid.uuid4()))).encode(), attributes))
    env = {**os.environ, "STORAGE_EMULATOR_HOST": storage, "GOOGLE_CLOUD_PROJECT": "p"}
    for schemas, line in ((url, "decoded 1, duplicates 0, errors by type: none"), (None, "decoded 0")):
        out = tmp_path / ("with" if schemas else "without")
        command = [PINGPIPE, "decode", "--input", f"file:{raw}", "--output", f"file:{out}/dec", "--errors", f"file:{out}/err"]
        done = subprocess.run(
            [*command, *(["--schemas", schemas] if schemas else [])], capture_output=True, text=True, timeout=300, env=env
        )
        assert done.returncode == 0 and line in done.stdout, done.stdout + done.stderr[-2000:]


@pytest.mark.system
def test_a_bundle_must_be_a_tarball(tmp_path):
    done = subprocess.run(
        [PINGPIPE, "decode", "--input", "file:x", "--output", "file:o", "--errors", "file:e", "--schemas", "gs://stage/schemas/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "a bundle in storage is a .tar.gz of a registry folder" in done.stderr
