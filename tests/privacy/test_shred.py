"""Shredding with the real client: two Glean clients through `pingpipe up`; one turns telemetry off,
the SDK itself sends its deletion request, and `pingpipe shred` deletes that client from every table."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import urllib.request
import uuid

import orjson
import pytest

from pingpipe.privacy.shred import plan, statements
from tests.fixtures.demo import demo_ping
from tests.helpers import PINGPIPE
from tests.up.conftest import start_up
from tests.up.test_glean import FAMILY, HERE, app_schemas

CLIENT = [
    {"name": "client_info", "type": "RECORD", "mode": "NULLABLE", "fields": [{"name": "client_id", "type": "STRING", "mode": "NULLABLE"}]}
]


def test_every_table_of_a_family_with_deletion_requests_is_planned_and_one_without_a_user_id_is_skipped():
    p = plan(
        {
            ("app_live", "deletion_request_v1"): CLIENT,
            ("app_live", "baseline_v1"): CLIENT,
            ("app_stable", "baseline_v1"): CLIENT,
            ("app_live", "odd_v1"): [{"name": "x", "type": "STRING"}],
            ("other_live", "baseline_v1"): CLIENT,  # no deletion request in its family: untouched
            ("legacy_live", "deletion_request_v4"): [{"name": "client_id", "type": "STRING"}],
            ("legacy_live", "main_v4"): [{"name": "client_id", "type": "STRING"}],
        }
    )
    assert p.skipped == ["app_live.odd_v1"]
    tables = [t for t, _ in statements(p, dry_run=False)]
    assert tables == ["app_live.baseline_v1", "app_stable.baseline_v1", "legacy_live.main_v4"]
    assert all(sql.startswith("DELETE") for _, sql in statements(p, dry_run=False))


def client_ids(up) -> dict[str, set]:
    """Per table of the app: the client ids it holds."""
    out = {}
    for table in up.status()["tables"]:
        if table["table"].startswith(FAMILY):
            rows = up.query(f"SELECT DISTINCT client_info.client_id AS c FROM {table['table']}")
            out[table["table"]] = {r["c"] for r in rows}
    return out


def run_two_clients(up, tmp) -> dict[str, str]:
    """The real SDK for clients A (turns telemetry off at the end) and B; their client and legacy ids."""
    sessions, ids = {}, {}
    clients = {  # both at once: each mostly waits on its SDK's uploader
        name: subprocess.Popen(
            [sys.executable, str(HERE / "glean_client.py"), up.url, str(tmp / f"glean-{name}"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in (("A", []), ("B", ["keep"]))
    }
    for name, client in clients.items():
        out, err = client.communicate(timeout=180)
        assert client.returncode == 0, err[-3000:]
        recorded = json.loads(out.strip().splitlines()[-1])
        sessions[name], ids[f"legacy {name}"] = recorded["session_uuid"], recorded["legacy_id"]
    up.wait_committed(11)  # A: custom, 2 baseline, events, metrics, deletion-request; B: the same but the last
    for name, session in sessions.items():
        (row,) = up.query(f"SELECT client_info.client_id AS c FROM {FAMILY}.custom_v1 WHERE metrics.uuid.e2e_ui_session_uuid = '{session}'")
        ids[name] = row["c"]
    return ids


@pytest.fixture(scope="module")
def two_clients(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shred")
    up = start_up(tmp / "data", schemas=app_schemas(tmp / "schemas"))
    try:
        yield up, run_two_clients(up, tmp)
    finally:
        if up.proc.poll() is None:
            assert up.stop() == 0


@pytest.mark.system
def test_shred_in_json_says_per_table_what_it_would_delete(two_clients):
    """Before the test below shreds: a dry run, as one JSON object (as `status` and `lineage` answer)."""
    up, ids = two_clients
    dry = subprocess.run(
        [PINGPIPE, "shred", "--data", str(up.data), "--dry-run", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    answer = json.loads(dry.stdout)
    assert answer["dry_run"] is True and answer["rows"][f"{FAMILY}.custom_v1"] == 1, answer
    assert ids["A"] in client_ids(up)[f"{FAMILY}.custom_v1"]  # a dry run deletes nothing


@pytest.mark.system
def test_a_client_that_turned_telemetry_off_is_gone_from_every_table_and_the_other_is_intact(two_clients):
    up, ids = two_clients
    before = client_ids(up)
    assert ids["A"] in before[f"{FAMILY}.deletion_request_v1"] and ids["B"] not in before[f"{FAMILY}.deletion_request_v1"]
    dry = subprocess.run([PINGPIPE, "shred", "--data", str(up.data), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and f"{FAMILY}.custom_v1: would delete 1 row(s)" in dry.stdout
    assert client_ids(up) == before  # a dry run deletes nothing
    done = subprocess.run([PINGPIPE, "shred", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"{FAMILY}.custom_v1: deleted 1 row(s)" in done.stdout, done.stdout + done.stderr
    after = client_ids(up)
    for table, clients in after.items():
        if table.endswith("deletion_request_v1"):
            assert clients == {ids["A"]}  # the request itself stays: the audit trail
        else:
            assert ids["A"] not in clients and clients == before[table] - {ids["A"]}, table
            assert ids["B"] in clients or ids["B"] not in before[table]
    again = subprocess.run([PINGPIPE, "shred", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "deleted 1 row" not in again.stdout  # a rerun deletes nothing more
    audit = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert audit.returncode == 0, audit.stdout


def custom_ping(up, client_id: str, legacy_id: str) -> None:
    """A custom ping as the app's previous install sent it: another client id, the legacy id."""
    body = json.dumps(
        {
            "ping_info": {"seq": 9, "start_time": "2026-11-23T10:00+00:00", "end_time": "2026-11-23T10:01+00:00"},
            "client_info": {
                "client_id": client_id,
                "app_channel": "beta",
                "app_build": "1",
                "app_display_version": "1.2.3",
                "architecture": "x86_64",
                "os": "Linux",
                "os_version": "6.1",
                "telemetry_sdk_build": "t",
                "first_run_date": "2026-11-23+00:00",
            },
            "metrics": {"uuid": {"e2e.legacy.client_id": legacy_id}},
        }
    ).encode()
    request = urllib.request.Request(
        f"{up.url}/submit/pingpipe-e2e/custom/1/{uuid.uuid4()}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    assert urllib.request.urlopen(request, timeout=10).status == 200


@pytest.mark.system
def test_a_secondary_id_the_sdk_put_in_the_deletion_request_reaches_the_rows_it_names(two_clients, tmp_path):
    """A's deletion request carries its legacy id (a uuid metric sent in deletion-request). Rows of the
    app's previous install, under other client ids, go once a rule names that id; B's stay."""
    up, ids = two_clients
    (request,) = up.query(f"SELECT metrics.uuid.e2e_legacy_client_id AS l FROM {FAMILY}.deletion_request_v1")
    assert request["l"] == ids["legacy A"]  # the SDK itself sent it
    committed = up.status()["committed"]["messages"]
    custom_ping(up, str(uuid.uuid4()), ids["legacy A"])
    custom_ping(up, str(uuid.uuid4()), ids["legacy B"])
    up.wait_committed(committed + 2)
    legacy_rows = f"SELECT metrics.uuid.e2e_legacy_client_id AS l FROM {FAMILY}.custom_v1 WHERE client_info.app_build = '1'"
    plain = subprocess.run([PINGPIPE, "shred", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 and "deleted 1 row" not in plain.stdout  # no rule follows the legacy id yet
    assert len(up.query(legacy_rows)) == 2
    rules = tmp_path / "ids.yaml"
    rules.write_text("- request: metrics.uuid.e2e_legacy_client_id\n  family: pingpipe_e2e\n  column: metrics.uuid.e2e_legacy_client_id\n")
    done = subprocess.run([PINGPIPE, "shred", "--data", str(up.data), "--user-ids", str(rules)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"{FAMILY}.custom_v1: deleted 1 row(s)" in done.stdout, done.stdout + done.stderr
    assert up.query(legacy_rows) == [{"l": ids["legacy B"]}]
    audit = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert audit.returncode == 0, audit.stdout
    custom_ping(up, str(uuid.uuid4()), ids["legacy A"])  # the previous install, heard from once more
    up.wait_committed(committed + 3)
    audit = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert audit.returncode == 1 and f"{FAMILY}.custom_v1: 1 row(s) of clients whose deletion was processed" in audit.stdout
    again = subprocess.run(
        [PINGPIPE, "shred", "--data", str(up.data), "--user-ids", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and f"{FAMILY}.custom_v1: deleted 1 row(s)" in again.stdout
    assert subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, timeout=60).returncode == 0


@pytest.mark.system
def test_the_audit_fails_when_a_shredded_client_has_a_row_again(two_clients):
    """A ping of a client already shredded, arriving late (a retry from its queue): the audit names the table."""
    up, ids = two_clients
    body = json.dumps(
        {
            "ping_info": {"seq": 9, "start_time": "2026-11-23T10:00+00:00", "end_time": "2026-11-23T10:01+00:00"},
            "client_info": {
                "client_id": ids["A"],
                "app_channel": "beta",
                "app_build": "1",
                "app_display_version": "1.2.3",
                "architecture": "x86_64",
                "os": "Linux",
                "os_version": "6.1",
                "telemetry_sdk_build": "t",
                "first_run_date": "2026-11-23+00:00",
            },
            "metrics": {},
        }
    ).encode()
    committed = up.status()["committed"]["messages"]
    request = urllib.request.Request(
        f"{up.url}/submit/pingpipe-e2e/custom/1/{uuid.uuid4()}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    assert urllib.request.urlopen(request, timeout=10).status == 200
    up.wait_committed(committed + 1)
    audit = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert audit.returncode == 1 and f"{FAMILY}.custom_v1: 1 row(s) of clients whose deletion was processed" in audit.stdout


@pytest.mark.system
def test_a_users_rules_name_the_user_id_of_their_own_tables_before_the_shipped_ones(tmp_path):
    from pingpipe.privacy.shred import load_rules

    rules_file = tmp_path / "ids.yaml"
    rules_file.write_text("- family: shop\n  column: profile.account_id\n")
    account = [{"name": "profile", "type": "RECORD", "fields": [{"name": "account_id", "type": "STRING"}]}]
    tables = {
        ("shop_live", "deletion_request_v1"): account,
        ("shop_live", "orders_v1"): account,
        ("shop_live", "visits_v1"): [{"name": "page", "type": "STRING"}],
    }
    assert plan(tables).targets == {}  # the shipped rules know no such column: nothing to shred
    p = plan(tables, load_rules(rules_file))
    assert [t for t, _ in statements(p, dry_run=False)] == ["shop_live.orders_v1"] and p.skipped == ["shop_live.visits_v1"]
    rules_file.write_text("- family: shop\n")
    out = subprocess.run(
        [PINGPIPE, "shred", "--data", str(tmp_path), "--user-ids", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and "entry 0 must be {family: PATTERN, column: PATH}" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.system
def test_a_shred_killed_halfway_deletes_nothing_and_after_a_restart_deletes_the_rest(tmp_path, monkeypatch):
    """SIGKILL inside the shred's transaction (after its first table, by a crash point: see
    pingpipe/faults.py), then a restart: nothing was deleted, and the rerun deletes exactly A. The
    pings come over HTTP (the SDK's own are the module's above): what is tested is the transaction."""
    monkeypatch.setenv("PINGPIPE_KILL_AT", "shred")
    up = start_up(tmp_path / "data")
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        connection = http.client.HTTPConnection("127.0.0.1", up.port, timeout=10)
        for doctype, client in (("hello", a), ("baseline", a), ("hello", b), ("baseline", b), ("deletion-request", a)):
            body = orjson.dumps(demo_ping(client_id=client))
            connection.request("POST", f"/submit/pingpipe-demo/{doctype}/1/{uuid.uuid4()}", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == 200 and not answer.read()
        up.wait_committed(5)
        before = demo_client_ids(up)
        assert before["pingpipe_demo_live.hello_v1"] == {a, b}
        killed = subprocess.run([PINGPIPE, "shred", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
        assert up.proc.wait(timeout=30) == -9  # `up` died inside the shred
        assert killed.returncode == 1 and "Traceback" not in killed.stderr and len(killed.stderr.strip().splitlines()) == 1
    finally:
        if up.proc.poll() is None:
            up.stop(signal.SIGKILL)
    monkeypatch.delenv("PINGPIPE_KILL_AT")
    up = start_up(tmp_path / "data")
    try:
        assert demo_client_ids(up) == before  # the kill came before the commit: no table lost a row
        done = subprocess.run([PINGPIPE, "shred", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "pingpipe_demo_live.baseline_v1: deleted 1 row(s)" in done.stdout, done.stdout + done.stderr
        for table, clients in demo_client_ids(up).items():
            assert clients == (before[table] if table.endswith("deletion_request_v1") else before[table] - {a}), table
        audit = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
        assert audit.returncode == 0, audit.stdout
    finally:
        assert up.stop() == 0


def demo_client_ids(up) -> dict[str, set]:
    """Per live table of the demo app: the client ids it holds."""
    out = {}
    for table in up.status()["tables"]:
        if table["table"].startswith("pingpipe_demo_live."):
            out[table["table"]] = {r["c"] for r in up.query(f"SELECT DISTINCT client_info.client_id AS c FROM {table['table']}")}
    return out


def test_the_shipped_rules_follow_firefox_desktops_legacy_telemetry_id_into_the_telemetry_tables():
    """Firefox desktop's Glean deletion request names its legacy telemetry client id (a secondary id):
    telemetry's rows of it go, with those of telemetry's own deletion requests, and no others."""
    import duckdb

    from pingpipe.privacy.shred import shred

    glean_request = [
        {"name": "client_info", "type": "RECORD", "fields": [{"name": "client_id", "type": "STRING"}]},
        {
            "name": "metrics",
            "type": "RECORD",
            "fields": [{"name": "uuid", "type": "RECORD", "fields": [{"name": "legacy_telemetry_client_id", "type": "STRING"}]}],
        },
    ]
    legacy = [{"name": "client_id", "type": "STRING"}]
    tables = {
        ("firefox_desktop_live", "deletion_request_v1"): glean_request,
        ("telemetry_live", "main_v4"): legacy,
        ("telemetry_stable", "main_v4"): legacy,
        ("telemetry_live", "deletion_request_v4"): legacy,
    }
    con = duckdb.connect()
    for schema in ("firefox_desktop_live", "telemetry_live", "telemetry_stable"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute(
        "CREATE TABLE firefox_desktop_live.deletion_request_v1 (client_info STRUCT(client_id VARCHAR), "
        "metrics STRUCT(uuid STRUCT(legacy_telemetry_client_id VARCHAR)))"
    )
    con.execute(
        "INSERT INTO firefox_desktop_live.deletion_request_v1 VALUES ({'client_id': 'g1'}, {'uuid': {'legacy_telemetry_client_id': 'L1'}})"
    )
    for table in ("telemetry_live.main_v4", "telemetry_stable.main_v4"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM (VALUES ('L1'), ('L2'), ('L3'), ('g1')) AS t(client_id)")
    con.execute("CREATE TABLE telemetry_live.deletion_request_v4 AS SELECT 'L3' AS client_id")
    done = shred(con, tables)
    assert done == {"rows": {"telemetry_live.main_v4": 2, "telemetry_stable.main_v4": 2}, "skipped": [], "scope": "every partition"}
    for table in ("telemetry_live.main_v4", "telemetry_stable.main_v4"):
        assert sorted(r[0] for r in con.execute(f"SELECT client_id FROM {table}").fetchall()) == ["L2", "g1"]
    assert shred(con, tables)["rows"] == {"telemetry_live.main_v4": 0, "telemetry_stable.main_v4": 0}  # a rerun: nothing
