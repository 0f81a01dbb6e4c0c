"""The real Glean SDK (glean-sdk from PyPI) against `pingpipe up`, with the test app in glean_app/.

Glean runs in its own process (it is a process-wide singleton) in test mode, so that each
submit() returns after the upload. Between Glean and the edge sits a small HTTP proxy that
answers 500 to the first upload of the custom ping *after* the edge stored it: the fault a
load balancer timeout causes in production, and the only way to make the real client retry a
ping the pipeline already has. Glean retries with the same document id and bytes; the row must
be stored once and the retry counted as a duplicate.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import PINGPIPE
from tests.up.conftest import scan_warehouse

pytestmark = pytest.mark.system

PROXY_HEADERS = {
    "X-Forwarded-For": "81.2.69.160, 10.0.0.1",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
}
HERE = Path(__file__).resolve().parent
APP = HERE / "glean_app"
FAMILY = "pingpipe_e2e_live"


class RetryProxy:
    """Forwards every request to the edge; the first custom-ping upload gets a 500 back anyway."""

    def __init__(self, port: int):
        self.upstream = port
        self.forwarded: list[tuple[str, int]] = []
        self.failed: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers.update(PROXY_HEADERS)  # as a load balancer in front of the edge, and a browser's agent
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                conn.close()
                status = response.status
                proxy.forwarded.append((self.path, status))
                if status == 200 and "/custom/" in self.path and not proxy.failed:
                    proxy.failed.append(self.path)
                    status = 500  # stored upstream, but the client is told it failed
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def app_schemas(out: Path) -> Path:
    """`pingpipe schemas glean` for the test app in glean_app/."""
    generated = subprocess.run(
        [
            PINGPIPE,
            "schemas",
            "glean",
            "--app-id",
            "pingpipe-e2e",
            "--metrics",
            str(APP / "metrics.yaml"),
            "--pings",
            str(APP / "pings.yaml"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert generated.returncode == 0, generated.stderr
    return out


@pytest.fixture(scope="module")
def glean_run(tmp_path_factory):
    """Generate the app's schemas, start `pingpipe up` with them, run the Glean scenario through the proxy."""
    from tests.up.conftest import start_up

    tmp = tmp_path_factory.mktemp("glean-e2e")
    up = start_up(tmp / "data", schemas=app_schemas(tmp / "schemas"))
    proxy = RetryProxy(up.port)
    try:
        client = subprocess.run(
            [sys.executable, str(HERE / "glean_client.py"), f"http://127.0.0.1:{proxy.port}", str(tmp / "glean")],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert client.returncode == 0, client.stderr[-3000:]
        recorded = json.loads(client.stdout.strip().splitlines()[-1])
        up.wait_committed(len(proxy.forwarded))
        yield up, proxy, recorded
    finally:
        proxy.close()
        if up.proc.poll() is None:
            assert up.stop() == 0


def test_every_ping_lands_in_its_own_table(glean_run):
    up, proxy, _ = glean_run
    tables = {t["table"]: t["rows"] for t in up.status()["tables"]}
    assert tables[f"{FAMILY}.custom_v1"] == 1
    assert tables[f"{FAMILY}.baseline_v1"] == 2  # active + inactive
    assert tables[f"{FAMILY}.events_v1"] >= 1
    assert tables[f"{FAMILY}.metrics_v1"] == 1
    assert tables[f"{FAMILY}.deletion_request_v1"] == 1
    assert all(status == 200 for _, status in proxy.forwarded)
    assert up.status()["committed"]["errors"] == 0


def test_metric_values_are_in_their_columns(glean_run):
    up, _, recorded = glean_run
    (row,) = up.query(f"""
        SELECT metrics.counter.e2e_ui_launches AS launches, metrics.string.e2e_ui_theme AS theme,
               metrics.boolean.e2e_ui_dark_mode AS dark, metrics.quantity.e2e_ui_width AS width,
               metrics.string_list.e2e_ui_languages AS languages, metrics.uuid.e2e_ui_session_uuid AS session,
               metrics.datetime.e2e_ui_installed_at AS installed, metrics.timespan.e2e_ui_startup AS startup,
               metrics.labeled_counter.e2e_ui_button_clicks AS clicks,
               metrics.timing_distribution.e2e_ui_page_load AS page_load,
               client_info.client_id AS client_id, client_info.app_display_version AS version,
               client_info.app_channel AS channel, ping_info.seq AS seq, ping_info.start_time AS start_time,
               sample_id, normalized_channel, document_id, submission_timestamp
        FROM {FAMILY}.custom_v1""")
    assert (row["launches"], row["theme"], row["dark"], row["width"]) == (3, "solarized", True, 1280)
    assert row["languages"] == ["en-GB", "fr"]
    assert row["session"] == recorded["session_uuid"]
    assert row["installed"].startswith("2026-11-20T09:30:15")
    assert row["startup"] == {"time_unit": "millisecond", "value": 1500}
    assert sorted((c["key"], c["value"]) for c in row["clicks"]) == [("cancel", 1), ("ok", 2)]
    # Glean sends timing distributions in nanoseconds, whatever the time_unit.
    assert row["page_load"]["sum"] == 60_000_000 and sum(v["value"] for v in row["page_load"]["values"]) == 3
    assert row["client_id"] and row["version"] == "1.2.3" and row["channel"] == "beta" and row["seq"] == 0
    assert row["start_time"]
    assert 0 <= row["sample_id"] <= 99 and row["normalized_channel"] == "beta"
    assert row["document_id"] and row["submission_timestamp"]
    (event,) = up.query(f"""SELECT e.category, e.name, e.extra FROM {FAMILY}.events_v1, unnest(events) AS t(e)
                            WHERE e.name = 'clicked'""")
    assert event["category"] == "e2e.ui" and {"key": "button", "value": "ok"} in event["extra"]
    (metrics,) = up.query(f"SELECT metrics.counter.e2e_ui_launches AS launches, ping_info.reason AS reason FROM {FAMILY}.metrics_v1")
    assert metrics == {"launches": 4, "reason": "today"}
    reasons = sorted(r["reason"] for r in up.query(f"SELECT ping_info.reason AS reason FROM {FAMILY}.baseline_v1"))
    assert reasons == ["active", "inactive"]
    (deletion,) = up.query(f"SELECT client_info.client_id AS client_id FROM {FAMILY}.deletion_request_v1")
    assert deletion["client_id"] == row["client_id"]  # the id whose data must be deleted


def test_a_ping_retried_after_a_5xx_is_stored_once(glean_run):
    up, proxy, _ = glean_run
    (failed,) = proxy.failed
    assert [path for path, _ in proxy.forwarded].count(failed) == 2  # Glean sent the same document again
    document_id = failed.rsplit("/", 1)[1]
    assert up.query(f"SELECT count(*) AS n FROM {FAMILY}.custom_v1 WHERE document_id = '{document_id}'")[0]["n"] == 1
    duplicates = up.query(f"SELECT error_type FROM payload_bytes_error.structured WHERE document_id = '{document_id}'")
    assert duplicates == [{"error_type": "duplicate"}]
    assert up.status()["committed"]["duplicates"] == 1


def test_no_ip_address_and_no_user_agent_is_stored(glean_run):
    up, _, _ = glean_run
    assert scan_warehouse(up, "127.0.0.1") == [] and scan_warehouse(up, "81.2.69.160") == [] and scan_warehouse(up, "rv:120") == []
    (agent,) = up.query(f"SELECT DISTINCT metadata.user_agent.browser AS browser FROM {FAMILY}.custom_v1")
    assert agent == {"browser": "Firefox"}  # parsed, then dropped
    columns = up.query("SELECT column_name FROM information_schema.columns WHERE table_schema <> '_pingpipe'")
    assert not {"remote_addr", "x_forwarded_for", "user_agent"} & {c["column_name"] for c in columns}


def test_the_privacy_audit_of_the_running_warehouse_finds_nothing(glean_run):
    up, _, _ = glean_run
    out = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "column(s) with identifiers: none" in out.stdout
