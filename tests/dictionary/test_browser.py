"""The data dictionary and the debug viewer in a real browser (Debian's Chromium, driven by
Playwright), served by a real `pingpipe up`, fed by the real Glean SDK."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pingpipe.up import client
from tests.helpers import PINGPIPE, free_port
from tests.up.conftest import start_up

CLIENT = Path(__file__).with_name("glean_debug_client.py")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def up(tmp_path):
    started = start_up(tmp_path / "data", "--ui-port", str(free_port()), "--chart-min-clients", "1")
    yield started
    if started.proc.poll() is None:
        os.killpg(started.proc.pid, signal.SIGKILL)
        started.proc.wait(timeout=20)


def ui_url(up) -> str:
    return client.read_state(up.data)["ui"]


def enter(page, up) -> str:
    """Open the link `up` printed, as a user does first (it lets the browser in); the UI's address."""
    page.goto(client.read_state(up.data)["ui_link"])
    return ui_url(up)


def send(up, tmp_path: Path, launches: int, tag: str | None = None, invalid: bool = False) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLEAN_")}
    if tag:
        env["GLEAN_DEBUG_VIEW_TAG"] = tag
    done = subprocess.run(
        [sys.executable, str(CLIENT), up.url, str(tmp_path / f"glean-{launches}"), str(launches), *(["invalid"] if invalid else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


@pytest.mark.external
def test_a_metric_is_found_by_search_and_by_clicking_and_its_sql_and_charts_give_what_two_sdk_clients_sent(up, page, tmp_path):
    send(up, tmp_path, launches=7)
    up.wait_committed(2)
    base = enter(page, up)

    # Search, answered in the page.
    page.goto(base)
    page.fill("#search", "demo.launch")
    result = page.locator("#results a", has_text="demo.launches")
    result.first.wait_for()
    shot(page, "dictionary-search")
    assert result.first.get_attribute("href").endswith("apps/pingpipe-demo/metrics/demo.launches/")

    # Click through app -> ping -> metric.
    page.click("text=pingpipe-demo")
    assert page.url == base + "apps/pingpipe-demo/"
    page.click("table >> text=hello")
    assert page.url == base + "apps/pingpipe-demo/pings/hello/"
    assert page.locator(".spark").count() == 1  # rows per day, drawn
    page.click("text=demo.launches")
    assert page.url == base + "apps/pingpipe-demo/metrics/demo.launches/"
    shot(page, "dictionary-metric")

    landing = page.locator("section.landing").filter(has_text="hello ping")
    assert landing.locator(".table-link").inner_text() == "pingpipe_demo_live.hello_v1"
    assert landing.locator(".column").inner_text() == "metrics.counter.demo_launches"
    sql = landing.locator("pre.sql").inner_text()

    done = subprocess.run([PINGPIPE, "query", "--data", str(up.data), "--format", "json", sql], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["demo_launches"] for r in rows] == [7]

    # The table page: figures from the warehouse, and the lineage down to the derived tables.
    landing.locator(".table-link").click()
    assert page.locator("dd.rows").inner_text() == "1"
    assert page.locator(".lineage").get_by_text("pingpipe_demo_stable.hello_v1").count() == 1
    shot(page, "dictionary-table")

    # The metric page's charts, with a second client; the SDK counts its negative add as an error.
    send(up, tmp_path, launches=3, invalid=True)
    up.wait_committed(4)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(base + "apps/pingpipe-demo/metrics/demo.launches/")
    assert page.locator("form.view select[name=ping]").input_value() == "hello"  # the ping that has rows
    counts = page.locator("#chart-counts")
    assert counts.locator("svg.chart").count() == 3  # clients, sum, mean per client
    shot(page, "dictionary-metric-charts")

    counts.locator("summary", has_text="View SQL").click()
    sql = counts.locator("pre.sql").inner_text()
    done = subprocess.run(
        [PINGPIPE, "query", "--data", str(up.data), "--dialect", "bigquery", "--format", "json", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    queried = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["clients"], r["total"], r["mean_per_client"]) for r in queried] == [(2, 10, 5.0)]
    csv_text = page.request.get(
        base + "apps/pingpipe-demo/metrics/demo.launches/" + counts.locator("a", has_text="CSV").get_attribute("href")
    ).text()
    header, row = csv_text.splitlines()
    assert header == "day,clients,last_received,total,mean_per_client" and [row.split(",")[i] for i in (1, 3, 4)] == ["2", "10", "5.0"]
    assert row.split(",")[0] == queried[0]["day"]

    page.select_option("form.view select[name=days]", "90")  # the form, without JavaScript: a GET of the same page
    page.click("form.view button")
    assert "days=90" in page.url and page.locator("form.view select[name=days]").input_value() == "90"
    first = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=89)).isoformat()
    assert f"from {first} to" in page.locator("#chart-counts pre.sql").text_content(), "the view asked for is the one queried"

    errors = page.locator("#chart-errors")
    errors.locator("summary", has_text="Data").click()
    assert errors.locator("table.data tbody tr").all_inner_texts() == [f"{queried[0]['day']}\tinvalid_value\t1\t1"]
    assert problems == []


@pytest.mark.external
def test_debug_tagged_pings_appear_live_and_a_refused_one_shows_why(up, page, tmp_path):
    base = enter(page, up)
    page.goto(base + "debug/browser-test/")  # opened before the pings exist: the page follows them
    assert "No pings with this tag" in page.inner_text("#pings")

    send(up, tmp_path, launches=3, tag="browser-test")
    sent = time.monotonic()
    refused = page.locator("article.ping.invalid")
    valid = page.locator("article.ping.valid")
    refused.wait_for(timeout=15_000)
    valid.wait_for(timeout=15_000)
    shown_after = time.monotonic() - sent
    shot(page, "debug-viewer")

    assert "hello" in valid.locator("header").inner_text()
    if not valid.locator("pre").is_visible():
        valid.locator("summary").click()  # the newest ping is open; the others open on a click
    assert '"demo.launches": 3' in valid.locator("pre").inner_text()
    assert "not-registered" in refused.locator("header").inner_text()
    assert refused.locator(".verdict").inner_text() == "refused: ParsePayload"  # Mozilla's error_type
    assert "SchemaNotFound: no schema: unknown document type 'not-registered'" in refused.locator(".error").inner_text()

    # The same stripped data as the tables: the client's address (127.0.0.1 here) is nowhere in the page.
    assert "127.0.0.1" not in page.content() and '"remote_addr"' not in page.content()

    # They still went where every ping goes: a row, and an error row.
    rows = up.query("SELECT metrics.counter.demo_launches AS n, metadata.header.x_debug_id AS tag FROM pingpipe_demo_live.hello_v1")
    assert rows == [{"n": 3, "tag": "browser-test"}]
    errors = up.query("SELECT document_type FROM payload_bytes_error.structured WHERE document_type = 'not-registered'")
    assert len(errors) == 1

    page.goto(base + "debug/")
    assert page.locator("#tags td", has_text="browser-test").count() == 1
    print(f"debug pings shown {shown_after:.2f} s after the SDK's uploads returned (page refreshes each second)")


@pytest.mark.system
def test_the_ui_answers_only_under_its_own_host_name_and_only_to_who_has_its_token(up):
    import http.client

    state = client.read_state(up.data)
    port = int(state["ui"].rsplit(":", 1)[1].strip("/"))
    token = state["ui_link"].split("?token=", 1)[1]

    def get(path: str, **headers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()

    assert get("/debug/", Host=f"evil.example:{port}", Cookie=f"pingpipe_ui={token}")[0] == 403
    status, _, body = get("/debug/")  # any local user can reach the port: not the debug pings
    assert status == 403 and b"open the link" in body
    assert get("/debug/?token=wrong")[0] == 403 and get("/debug/", Cookie="pingpipe_ui=wrong")[0] == 403
    status, headers, _ = get(f"/debug/?token={token}")  # the link: the token becomes a cookie, out of the address
    assert status == 303 and headers["Location"] == "/debug/"
    assert f"pingpipe_ui={token}" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert get("/debug/", Cookie=f"pingpipe_ui={token}")[0] == 200
    status = subprocess.run([PINGPIPE, "status", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert state["ui_link"] in status.stdout
