"""`pingpipe up` end to end: curl-style POSTs in, rows and error rows out, queries while running,
Ctrl-C drains, SIGKILL loses nothing and doubles nothing."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

from pingpipe.schemas.registry import Registry
from tests.fixtures import SCHEMAS, validation_docs
from tests.fixtures.demo import demo_ping
from tests.helpers import PINGPIPE, free_port, load, submit_path
from tests.up.conftest import scan_warehouse

pytestmark = pytest.mark.system

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0 pingpipe-e2e-agent"


def post(port: int, path: str, body: bytes, **headers) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "User-Agent": UA, **headers})
    status = conn.getresponse().status
    conn.close()
    return status


def test_validation_documents_land_in_their_tables_or_the_error_table_and_counts_are_conserved(run_up, registry_root):
    registry = Registry.load(registry_root)
    up = run_up(schemas=registry_root)
    sent: list[tuple[str, str, str]] = []  # (document id, expected, table)
    for doc in validation_docs():
        namespace, doctype, version, expected = doc.namespace, doc.doctype, doc.version, doc.expected
        doc_id = str(uuid.uuid4())
        body = doc.body()
        gzipped = len(sent) % 2 == 0  # half of them gzipped, as clients do
        status = post(
            up.port,
            f"/submit/{namespace}/{doctype}/{version}/{doc_id}",
            gzip.compress(body) if gzipped else body,
            **({"Content-Encoding": "gzip"} if gzipped else {}),
        )
        assert status == 200
        sent.append((doc_id, expected, registry.get(namespace, doctype, version).live_table))
    # A retry of an accepted document (same id, same bytes) and a body that is not JSON.
    retry = next(d for d in validation_docs() if d.passes)
    retry_id = str(uuid.uuid4())
    for _ in range(2):
        assert post(up.port, f"{retry.uri_prefix}/{retry_id}", retry.body()) == 200
    assert post(up.port, submit_path(), b"{not json") == 200
    total = len(sent) + 3

    status = up.wait_committed(total)
    committed = status["committed"]
    assert committed["messages"] == total
    assert committed["rows"] + committed["errors"] + committed["duplicates"] == total
    assert committed["duplicates"] == 1
    assert committed["rows"] == sum(1 for s in sent if s[1] == "pass") + 1
    assert sum(t["rows"] for t in status["tables"]) == total  # rows + error rows (duplicates included)

    errors = {r["document_id"]: r for r in up.query("SELECT document_id, error_type, error_message FROM payload_bytes_error.structured")}
    for doc_id, expected, table in sent:
        if expected == "pass" and table == "glean_live.glean_v1":
            continue  # the generic glean.1 schema has no pipeline metadata, so its table has no document_id: counted below
        found = up.query(f"SELECT count(*) AS n FROM {table} WHERE document_id = '{doc_id}'")[0]["n"] if expected == "pass" else 0
        if expected == "pass":
            assert found == 1 and doc_id not in errors
        else:
            assert errors[doc_id]["error_type"] == "ParsePayload" and errors[doc_id]["error_message"]
    generic = sum(1 for s in sent if s[1] == "pass" and s[2] == "glean_live.glean_v1")
    assert up.query("SELECT count(*) AS n FROM glean_live.glean_v1")[0]["n"] == generic > 0
    assert errors[retry_id]["error_type"] == "duplicate"
    assert [e["error_type"] for e in errors.values()].count("ParsePayload") == sum(1 for s in sent if s[1] == "fail") + 1
    # Identifiers never stored: not the client address, not the raw user agent (its parsed parts are).
    assert scan_warehouse(up, "127.0.0.1") == []
    assert scan_warehouse(up, "pingpipe-e2e-agent") == []
    assert up.stop() == 0


HELLO = json.dumps(demo_ping({"counter": {"demo.launches": 7}}, seq=1, sdk="curl", channel="beta")).encode()


def send_hello(up, n: int) -> list[str]:
    return load(up.port, n, threads=4, path_for=lambda doc_id: f"/submit/pingpipe-demo/hello/1/{doc_id}", body=HELLO).ok


def test_query_and_status_work_while_running_and_after_a_clean_stop(run_up, tmp_path):
    up = run_up()
    ids = send_hello(up, 200)
    assert len(ids) == 200
    assert up.wait_committed(200)["committed"]["rows"] == 200
    data = str(up.data)
    # The warehouse file is locked by `up`: the CLI must go through it, not fail.
    out = subprocess.run(
        [
            PINGPIPE,
            "query",
            "--data",
            data,
            "--format",
            "json",
            "SELECT document_id, metrics.counter.demo_launches AS launches, normalized_channel FROM pingpipe_demo_live.hello_v1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["document_id"] for r in rows) == sorted(ids)
    assert {(r["launches"], r["normalized_channel"]) for r in rows} == {(7, "beta")}
    table = subprocess.run(
        [PINGPIPE, "query", "--data", data, "SELECT count(*) AS n FROM pingpipe_demo_live.hello_v1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert table.returncode == 0 and "200" in table.stdout and "(1 row)" in table.stdout
    refused = subprocess.run(
        [PINGPIPE, "query", "--data", data, "DELETE FROM pingpipe_demo_live.hello_v1"], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "read-only" in refused.stderr
    status = subprocess.run([PINGPIPE, "status", "--data", data], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "pingpipe up is running" in status.stdout and "pingpipe_demo_live.hello_v1" in status.stdout

    assert up.stop(signal.SIGINT) == 0  # Ctrl-C: drain and stop
    assert "stopped: " in up.log.read_text()
    after = subprocess.run(
        [PINGPIPE, "query", "--data", data, "--format", "json", "SELECT count(*) AS n FROM pingpipe_demo_live.hello_v1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.returncode == 0 and json.loads(after.stdout) == {"n": 200}
    status = subprocess.run([PINGPIPE, "status", "--data", data, "--format", "json"], capture_output=True, text=True, timeout=60)
    info = json.loads(status.stdout)
    assert info["running"] is False and info["backlog"]["sealed_segments"] == 0 and info["committed"]["rows"] == 200


def test_sigkill_in_mid_stream_then_restart_keeps_every_acknowledged_ping_exactly_once(run_up, tmp_path):
    data = tmp_path / "data"
    up = run_up(data=data, schemas=SCHEMAS)
    port = up.port
    stop = threading.Event()
    body = b'{"changesetID": "0123456789abcdef0123456789abcdef01234567", "reviewSystemUsed": "phabricator", "repository": "r"}'
    results = []
    sender = threading.Thread(target=lambda: results.append(load(port, 100_000, threads=8, body=body, stop=stop)))
    sender.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and up.status()["committed"].get("messages", 0) < 300:
        time.sleep(0.05)
    os.kill(up.proc.pid, signal.SIGKILL)  # the whole pipeline dies mid-stream (the edge with it)
    up.proc.wait(timeout=20)
    time.sleep(0.5)
    stop.set()
    sender.join(timeout=60)
    acknowledged = results[0].ok
    assert len(acknowledged) >= 300

    again = run_up(data=data, port=port, schemas=SCHEMAS)
    status = again.wait_committed(len(acknowledged))
    stored = again.query("SELECT document_id, count(*) AS n FROM eng_workflow_live.hgpush_v1 GROUP BY 1")
    counts = {r["document_id"]: r["n"] for r in stored}
    assert all(n == 1 for n in counts.values())  # nothing loaded twice
    assert set(acknowledged) <= set(counts)  # nothing acknowledged is lost
    assert status["committed"]["duplicates"] == 0
    # Only requests cut off by the kill (no answer) may have been stored without a 200.
    assert len(counts) - len(acknowledged) <= results[0].errors
    day = time.strftime("%Y-%m-%d", time.gmtime())
    done = subprocess.run([PINGPIPE, "stats", "--data", str(data), "--date", day, "--format", "json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr  # the kill hid nothing: what the queue took is all accounted for
    (figures,) = json.loads(done.stdout)["groups"]
    assert figures["accepted"] == figures["rows"] == len(counts) and figures["holds"]
    assert again.stop() == 0


def test_dedupe_to_stable_tables_runs_inside_a_running_up_and_after_it(run_up):
    up = run_up()
    assert len(send_hello(up, 50)) == 50
    up.wait_committed(50)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for _ in range(2):  # re-running a day replaces it, never doubles it
        out = subprocess.run([PINGPIPE, "dedupe", "--data", str(up.data), "--date", today], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert f"pingpipe_demo_stable.hello_v1 {today}: 50 row(s)" in out.stdout
    assert up.query("SELECT count(*) AS n FROM pingpipe_demo.hello")[0]["n"] == 50  # the user-facing view
    assert up.stop() == 0
    out = subprocess.run([PINGPIPE, "dedupe", "--data", str(up.data), "--date", today], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and f"pingpipe_demo_stable.hello_v1 {today}: 50 row(s)" in out.stdout
    bad = subprocess.run([PINGPIPE, "dedupe", "--data", str(up.data / "nowhere"), "--date", today], capture_output=True, text=True)
    assert bad.returncode != 0 and "no warehouse" in bad.stderr


def _workers_of(pid: int) -> list[int]:
    found = []
    for proc in os.listdir("/proc"):
        if proc.isdigit():
            try:
                stat = open(f"/proc/{proc}/stat").read().rsplit(")", 1)[1].split()
                cmd = open(f"/proc/{proc}/cmdline", "rb").read()
            except OSError:
                continue
            if int(stat[1]) == pid and b"spawn_main" in cmd:
                found.append(int(proc))
    return found


def test_a_killed_worker_process_is_replaced_and_nothing_is_lost(run_up):
    up = run_up(schemas=SCHEMAS)
    stop = threading.Event()
    body = b'{"changesetID": "0123456789abcdef0123456789abcdef01234567", "reviewSystemUsed": "phabricator", "repository": "r"}'
    results = []
    sender = threading.Thread(target=lambda: results.append(load(up.port, 100_000, threads=4, body=body, stop=stop)))
    sender.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and up.status()["committed"].get("messages", 0) < 200:
            time.sleep(0.05)
        victims = _workers_of(up.proc.pid)
        assert victims
        for pid in victims:  # the OOM killer's way: no warning, no cleanup
            os.kill(pid, signal.SIGKILL)
        time.sleep(1.5)
    finally:
        stop.set()
        sender.join(timeout=60)
    acknowledged = results[0].ok
    status = up.wait_committed(len(acknowledged))
    assert status["worker_restarts"] >= 1 and set(_workers_of(up.proc.pid)).isdisjoint(victims)
    counts = {r["document_id"]: r["n"] for r in up.query("SELECT document_id, count(*) AS n FROM eng_workflow_live.hgpush_v1 GROUP BY 1")}
    assert set(acknowledged) == set(counts) and set(counts.values()) == {1}
    assert status["committed"]["errors"] == 0 and status["committed"]["duplicates"] == 0
    assert up.stop() == 0


def test_a_second_up_on_the_same_data_or_port_fails_with_a_clear_message(run_up, tmp_path):
    up = run_up()
    same_data = subprocess.run(
        [PINGPIPE, "up", "--data", str(up.data), "--port", str(free_port())], capture_output=True, text=True, timeout=60
    )
    assert same_data.returncode == 1 and f"already running on {up.data} (PID {up.proc.pid})" in same_data.stderr
    same_port = subprocess.run(
        [PINGPIPE, "up", "--data", str(tmp_path / "other"), "--port", str(up.port)], capture_output=True, text=True, timeout=120
    )
    assert same_port.returncode != 0 and "could not start" in same_port.stderr
    assert up.status()["committed"] == {"messages": 0, "rows": 0, "errors": 0, "duplicates": 0, "segments": 0}


def test_bad_schemas_fail_fast_naming_the_file(tmp_path):
    bad = tmp_path / "schemas" / "ns" / "doc"
    bad.mkdir(parents=True)
    (bad / "doc.1.schema.json").write_text("{not json")
    out = subprocess.run(
        [PINGPIPE, "up", "--data", str(tmp_path / "data"), "--schemas", str(tmp_path / "schemas")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "doc.1.schema.json" in out.stderr


@pytest.mark.parametrize("sql", ["", "SELEC 1"])
def test_query_reports_bad_sql_clearly(run_up, sql):
    up = run_up()
    out = subprocess.run([PINGPIPE, "query", "--data", str(up.data), sql], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "Error" in out.stderr
