"""Website telemetry: Glean.js (npm @mozilla/glean, bundled with esbuild) in a page served from another
origin, in Debian's Chromium, sending to `pingpipe up` over HTTPS with a certificate the test makes;
once on Glean.js's default sendBeacon path, once on its fetch path (a CORS preflight first)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from pingpipe.up import client
from tests.helpers import PINGPIPE, make_certificate
from tests.up.conftest import scan_warehouse, start_up

pytestmark = pytest.mark.external

HERE = Path(__file__).resolve().parent
TABLE = "org_example_weather_web_live.page_visit_v1"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The test page, with Glean.js installed from npm and bundled (nothing from a CDN)."""
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            raise RuntimeError("npm is required in CI (Node.js with npm)")
        pytest.skip("npm is not installed")
    folder = tmp_path_factory.mktemp("site")
    for name in ("package.json", "package-lock.json", "page.js", "index.html"):
        shutil.copy(HERE / name, folder / name)
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run(
        [
            str(folder / "node_modules" / ".bin" / "esbuild"),
            "page.js",
            "--bundle",
            "--format=iife",
            "--outfile=bundle.js",
            "--log-level=warning",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def page_server(site):
    """A static server for the page, on a port of its own: its requests to the edge are cross-origin."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def up(tmp_path_factory, page_server):
    work = tmp_path_factory.mktemp("web")
    cert, key = make_certificate(work)
    schemas = work / "schemas"
    subprocess.run(
        [
            PINGPIPE,
            "schemas",
            "glean",
            "--app-id",
            "org.example.weather-web",
            "--metrics",
            str(HERE / "metrics.yaml"),
            "--pings",
            str(HERE / "pings.yaml"),
            "--out",
            str(schemas),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    started = start_up(
        work / "data",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--schemas",
        str(schemas),
        "--cors-origin",
        f"http://127.0.0.1:{page_server}",
        tls=True,
    )
    yield started
    os.killpg(started.proc.pid, signal.SIGKILL)
    started.proc.wait(timeout=20)


@pytest.fixture
def trusting_page(browser):
    """A page in a context told to trust the test's certificate."""
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    yield page
    context.close()


def visit(page, page_origin: str, up, uploader: str, theme: str) -> list[dict]:
    """Load the page; return what the browser sent to the edge (method, headers) once it says it submitted."""
    sent = []
    page.on(
        "request",
        lambda r: sent.append({"method": r.method, "url": r.url, "headers": r.headers}) if f":{up.port}/submit/" in r.url else None,
    )
    page.goto(f"{page_origin}/index.html?endpoint=https://127.0.0.1:{up.port}&uploader={uploader}&theme={theme}")
    page.wait_for_function("document.getElementById('status').textContent === 'submitted'", timeout=20_000)
    return sent


def rows_with_theme(up, theme: str, timeout: float = 20.0) -> list[dict]:
    sql = (
        f"SELECT metrics.counter.page_visits AS visits, metrics.string.page_theme AS theme, events, "
        f"metadata.user_agent.browser AS browser, metadata.user_agent.os AS os, normalized_os, "
        f"metadata.header.x_debug_id AS debug FROM {TABLE} WHERE metrics.string.page_theme = '{theme}'"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if up.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'page_visit_v1'")[0]["n"]:
            rows = up.query(sql)
            if rows:
                return rows
        time.sleep(0.2)
    return []


@pytest.mark.parametrize("uploader", ["beacon", "fetch"])
def test_a_web_pages_glean_ping_lands_with_its_values_and_without_ip_or_user_agent(up, page_server, trusting_page, uploader):
    theme = f"{uploader}-theme"
    sent = visit(trusting_page, f"http://127.0.0.1:{page_server}", up, uploader, theme)
    (row,) = rows_with_theme(up, theme)
    assert row["visits"] == 2 and row["theme"] == theme
    (event,) = row["events"]
    extra = {kv["key"]: kv["value"] for kv in event["extra"]}
    assert (event["category"], event["name"]) == ("page", "clicked")
    assert extra.pop("glean_timestamp").isdigit()  # Glean.js adds each event's wall-clock time (ms)
    assert extra == {"button": "forecast", "position": "3"}
    assert row["browser"] == "Chrome" and row["normalized_os"] == "Linux"
    assert row["debug"] == ("web-fetch" if uploader == "fetch" else None)
    assert scan_warehouse(up, "HeadlessChrome") == [] and scan_warehouse(up, "127.0.0.1") == []
    posts = [s for s in sent if s["method"] == "POST"]
    assert posts, sent
    headers = posts[0]["headers"]
    print(
        f"\n{uploader}: {posts[0]['method']} {posts[0]['url'].split('?')[0]} "
        + ", ".join(f"{k}: {v}" for k, v in sorted(headers.items()) if k.lower() not in ("user-agent",))
    )
    if uploader == "beacon":
        assert headers.get("content-type", "").startswith("text/plain")
    else:
        assert headers.get("x-debug-id") == "web-fetch" and headers.get("content-encoding") == "gzip"
        # The debug view's JSON API, read as a test in any language would: plain HTTP, the token as a header
        state = client.read_state(up.data)
        token = urllib.parse.parse_qs(urllib.parse.urlparse(state["ui_link"]).query)["token"][0]
        request = urllib.request.Request(state["ui"] + "api/debug/web-fetch", headers={"X-Pingpipe-Token": token})
        pings = json.loads(urllib.request.urlopen(request, timeout=10).read())["pings"]
        (mine,) = [p for p in pings if p["payload"]["metrics"]["string"]["page.theme"] == theme]
        assert (mine["doctype"], mine["verdict"], mine["payload"]["metrics"]["counter"]["page.visits"]) == ("page-visit", "valid", 2)


def test_a_page_from_an_origin_not_allowed_cannot_send_by_fetch_and_nothing_is_stored(up, page_server, trusting_page):
    before = up.status()["committed"].get("messages", 0)
    visit(trusting_page, f"http://localhost:{page_server}", up, "fetch", "blocked-theme")  # another origin
    time.sleep(3)
    assert rows_with_theme(up, "blocked-theme", timeout=0.5) == []
    assert up.status()["committed"].get("messages", 0) == before
