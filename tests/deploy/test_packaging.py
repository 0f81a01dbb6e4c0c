"""What the deployment relies on: the wheel (Beam's --extra_package, the images' `pip install .`)
carries every module and every schema file, and imports on its own, without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_every_module_and_the_shipped_schemas(tmp_path):
    source = tmp_path / "src"  # a copy: an in-tree build would leave build/ behind, and could reuse stale files
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(exist_ok=True)
        shutil.copy(REPO / name, source / name)
    for folder in ("pingpipe", "edge", "decoder", "loader", "schemas", "etl", "dictionary", "logs"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("pingpipe-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in (
        ("pingpipe", "pingpipe"),
        ("edge", "pingpipe/edge"),
        ("decoder", "pingpipe/decoder"),
        ("loader", "pingpipe/loader"),
        ("schemas", "pingpipe/schemas"),
        ("etl", "pingpipe/etl"),
        ("dictionary", "pingpipe/dictionary"),
        ("logs", "pingpipe/logs"),
    ):
        for source in (REPO / folder).rglob("*.py"):
            assert f"{package}/{source.relative_to(REPO / folder)}" in names, source
    for data in (REPO / "schemas" / "data").rglob("*"):
        if data.is_file():
            assert f"pingpipe/schemas/data/{data.relative_to(REPO / 'schemas' / 'data')}" in names, data
    for data in [*(REPO / "dictionary" / "templates").iterdir(), *(REPO / "dictionary" / "static").iterdir()]:
        assert f"pingpipe/dictionary/{data.relative_to(REPO / 'dictionary')}" in names, data
    for data in (REPO / "etl" / "templates").rglob("*.*"):  # the generated queries' SQL and metadata
        if data.is_file() and data.suffix in (".sql", ".yaml"):
            assert f"pingpipe/etl/{data.relative_to(REPO / 'etl')}" in names, data
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import pingpipe, pingpipe.cli, pingpipe.up.runner, pingpipe.loader.writers.duckdb, pingpipe.decoder.pipeline, "
        "pingpipe.etl.run, pingpipe.dictionary.pages\n"
        "from pingpipe.schemas.registry import Registry\n"
        "r = Registry.load()\n"
        "from pingpipe.etl.glean_usage import queries_for\n"
        "assert len(queries_for('app', 'baseline_v1', set())) == 4\n"
        "print(pingpipe.__file__)\n"
        "print(r.get('pingpipe-demo', 'hello', 1).live_table)\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(unpacked)!r}); " + probe.replace("\n", "; ")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    where, table = out.stdout.split()
    assert where.startswith(str(unpacked)) and table == "pingpipe_demo_live.hello_v1"


def test_the_image_installs_exactly_its_lock_which_pins_every_dependency_with_hashes():
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for lock, extras in (("requirements.lock", []), ("requirements-dataflow.lock", ["dataflow"])):
        text = (REPO / "deploy" / lock).read_text()
        pinned = {re.sub(r"[-_.]+", "-", m.group(1)).lower() for m in re.finditer(r"^([A-Za-z0-9._-]+)==\S+ \\", text, re.M)}
        wanted = project["dependencies"] + [d for e in extras for d in project["optional-dependencies"][e]]
        names = {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", d).group()).lower() for d in wanted}
        assert names <= pinned, (lock, sorted(names - pinned))
        hashed = re.findall(r"^[A-Za-z0-9._-]+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", text, re.M)
        assert len(hashed) == len(pinned), lock  # every pin carries its hashes
    build = (REPO / "deploy" / "requirements-build.lock").read_text()  # the uv that installs the lock, hashed too
    assert re.search(r"^uv==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", build, re.M), build[:200]
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes -r deploy/requirements-build.lock" in dockerfile
    assert "--require-hashes --compile-bytecode -r" in dockerfile and "--no-deps --compile-bytecode ." in dockerfile


def test_the_dataflow_workers_run_the_launchers_beam_from_the_same_lock():
    """Dataflow refuses a job whose workers run another Beam than the launcher that built it."""
    import re

    pins = {
        lock: re.search(r"^apache-beam==(\S+) ", (REPO / "deploy" / lock).read_text(), re.M).group(1)
        for lock in ("requirements.lock", "requirements-dataflow.lock")
    }
    worker = (REPO / "deploy" / "dataflow" / "Dockerfile").read_text()
    (beam,) = re.findall(r"^ARG BEAM_VERSION=(\S+)$", worker, re.M)
    assert set(pins.values()) == {beam}, (pins, beam)  # deploy/lock.sh writes BEAM_VERSION from the lock
    assert "ARG BEAM_BASE=apache/beam_python3.11_sdk:${BEAM_VERSION}\nFROM ${BEAM_BASE}" in worker
    bases = dict(re.findall(r"^([A-Z_]+)=(\S+)$", (REPO / "deploy" / "bases.env").read_text(), re.M))
    assert re.fullmatch(rf"apache/beam_python3\.11_sdk:{re.escape(beam)}(@sha256:[0-9a-f]{{64}})?", bases["BEAM_BASE"])  # a release's base
    assert "--require-hashes --compile-bytecode -r deploy/requirements-dataflow.lock" in worker
    assert "--no-deps --compile-bytecode ." in worker
    assert "pip install --no-cache-dir --require-hashes -r deploy/requirements-build.lock" in worker
