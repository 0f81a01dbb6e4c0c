"""Shared test fixtures. The project's own tests need nothing outside the repository: their data is in
tests/fixtures/ (Mozilla's data is read only by the conformance layer, tests/conformance/)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .fixtures import geoip
from .fixtures import registry_root as fill_registry
from .helpers import free_port, wait_http
from .loader.bigquery_servers import start_bqemulator

REPO = Path(__file__).resolve().parents[1]
TIERS = ("system", "external", "conformance")  # pyproject's markers; unmarked tests are the quick tier
TIER_SECONDS = (10.0, 20.0, 1.0, 0.5)  # a file tests/durations.json does not know yet: about what its tier's take


SOURCES = ("pingpipe", "schemas", "edge", "decoder", "loader", "etl", "dictionary", "logs")  # pyproject's package-dir


def pytest_configure(config):
    """Compile pingpipe's modules once, before any test starts a process. A machine may forbid writing
    bytecode (PYTHONDONTWRITEBYTECODE, as CI's does), and then every `pingpipe` process and worker the
    tests start would compile them all again."""
    if hasattr(config, "workerinput"):  # the xdist controller does it, once
        return
    import compileall

    for folder in SOURCES:
        compileall.compile_dir(REPO / folder, quiet=1)


def pytest_addoption(parser):
    parser.addoption(
        "--quick",
        action="store_true",
        help=f"only the quick tier: pure and in-process tests, for the edit-test loop (not {', '.join(TIERS)})",
    )


def _tier(item) -> int:
    """0 external, 1 system, 2 conformance, 3 quick: the order files start in."""
    return next((rank for rank, tier in enumerate(TIERS) if item.get_closest_marker(tier)), len(TIERS))


@pytest.hookimpl(trylast=True)  # after tests/conformance/conftest.py has marked its tests
def pytest_collection_modifyitems(config, items):
    if config.getoption("--quick"):
        quick = [item for item in items if _tier(item) == len(TIERS)]
        config.hook.pytest_deselected(items=[item for item in items if _tier(item) != len(TIERS)])
        items[:] = quick
        return
    # The longest files first, the quick tests last: they fill the test processes' ends, and the whole
    # run ends sooner (each file stays in order, in one process: --dist loadfile, --no-loadscope-reorder).
    # How long a file takes is tests/durations.json's (.ci/durations.py); a file it lacks, by its tier.
    root = Path(__file__).resolve().parents[1]
    took = json.loads((root / "tests" / "durations.json").read_text())
    tier = {}
    for item in items:
        path = str(item.fspath)
        tier[path] = min(tier.get(path, len(TIERS)), _tier(item))

    def longest_first(item) -> tuple:
        path = str(item.fspath)
        return (-took.get(str(Path(path).relative_to(root)), TIER_SECONDS[tier[path]]), path)

    items.sort(key=longest_first)


@pytest.fixture(scope="session")
def geoip_db(tmp_path_factory) -> Path:
    """pingpipe's own City test database (tests/fixtures/geoip.py), written once per test process."""
    return geoip.write_city_db(tmp_path_factory.mktemp("geoip") / "City-Test.mmdb")


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory) -> Path:
    """A schema repository: the shipped registry plus the test schemas of tests/fixtures/schemas."""
    return fill_registry(tmp_path_factory.mktemp("schemas"))


# ---------------------------------------------------------------------------------------------
# The real Pub/Sub emulator (gcloud ships it on these machines)


@dataclass
class PubSubEmulator:
    host: str
    project: str
    proc: subprocess.Popen
    log: Path

    def env(self) -> dict:
        return {"PUBSUB_EMULATOR_HOST": self.host, "PUBSUB_PROJECT_ID": self.project}

    def pause(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)


def start_emulator(log: Path, port: int | None = None) -> PubSubEmulator:
    if shutil.which("gcloud") is None:
        if os.environ.get("CI"):
            raise RuntimeError("gcloud (with the Pub/Sub emulator) is required in CI")
        pytest.skip("gcloud is not installed: the Pub/Sub emulator tests need it")
    port = port or free_port()
    out = open(log, "w")
    proc = subprocess.Popen(
        ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}", "--project=test"],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "Server started" in log.read_text():
            return PubSubEmulator(f"127.0.0.1:{port}", "test", proc, log)
        if proc.poll() is not None:
            raise RuntimeError(f"Pub/Sub emulator exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"Pub/Sub emulator did not start: {log.read_text()[-2000:]}")


def stop_emulator(emulator: PubSubEmulator) -> None:
    try:
        os.killpg(emulator.proc.pid, signal.SIGCONT)
        os.killpg(emulator.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    emulator.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("pubsub") / "emulator.log")
    old = {k: os.environ.get(k) for k in emulator.env()}
    os.environ.update(emulator.env())
    try:
        yield emulator
    finally:
        stop_emulator(emulator)
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# ---------------------------------------------------------------------------------------------
# Headless Chromium from Debian's package, driven by Playwright (the system browser, never a download)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def install_chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing (as root: CI and these machines)."""
    if CHROMIUM.is_file():
        return CHROMIUM
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if shutil.which("apt-get") and os.geteuid() == 0:
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:  # stale package lists on a fresh machine
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            done = subprocess.run(install, env=env, capture_output=True, text=True)
        if CHROMIUM.is_file():
            return CHROMIUM
        why = done.stderr[-1000:]
    else:
        why = "apt-get as root is not available"
    if os.environ.get("CI"):
        raise RuntimeError(f"Debian's chromium is required in CI and could not be installed: {why}")
    pytest.skip(f"chromium is not installed and could not be: {why}")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (Playwright launching Debian's binary). Not per session:
    Playwright's sync API holds an asyncio loop open in the main thread, and later tests run their own."""
    path = install_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; its screenshot is saved under test-artifacts/ whatever the outcome."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    yield pg
    folder = REPO / "test-artifacts"
    folder.mkdir(exist_ok=True)
    try:
        pg.screenshot(path=str(folder / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------
# bqemulator (PyPI, in its own venv): BigQuery's API on DuckDB, for the loader, etl and cycle tests


@pytest.fixture(scope="module")
def bqemulator(tmp_path_factory):
    try:
        emulator = start_bqemulator(tmp_path_factory.mktemp("bqemulator"))
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"bqemulator could not be installed or started here: {exc}")
    yield emulator
    emulator.stop()


# ---------------------------------------------------------------------------------------------
# gcp-storage-emulator (PyPI): a GCS server for what pingpipe reads from and writes to gs://


@pytest.fixture
def storage():
    """A GCS server in memory (gcp-storage-emulator) with the bucket `stage`: the DataflowRunner stages
    the pipeline and writes a template to GCS before any Dataflow call."""
    port = free_port()
    emulator = str(Path(sys.executable).with_name("gcp-storage-emulator"))
    proc = subprocess.Popen(
        [emulator, "start", "--port", str(port), "--in-memory", "--default-bucket=stage"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(port, "/storage/v1/b/stage", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
