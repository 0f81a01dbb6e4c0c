"""Shredding with the real client: two Glean clients through `pingpipe up`; one turns telemetry off,
the SDK itself sends its deletion request, and `pingpipe shred` deletes that client from every table."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid

import pytest

from pingpipe.privacy.shred import plan, statements
from tests.helpers import PINGPIPE
from tests.up.conftest import start_up
from tests.up.test_glean import FAMILY, HERE, app_schemas

CLIENT = [{"name": "client_info", "type": "RECORD", "mode": "NULLABLE",
           "fields": [{"name": "client_id", "type": "STRING", "mode": "NULLABLE"}]}]


def test_every_table_of_a_family_with_deletion_requests_is_planned_and_one_without_a_user_id_is_skipped():
    p = plan({("app_live", "deletion_request_v1"): CLIENT, ("app_live", "baseline_v1"): CLIENT,
              ("app_stable", "baseline_v1"): CLIENT, ("app_live", "odd_v1"): [{"name": "x", "type": "STRING"}],
              ("other_live", "baseline_v1"): CLIENT,  # no deletion request in its family: untouched
              ("legacy_live", "deletion_request_v4"): [{"name": "client_id", "type": "STRING"}],
              ("legacy_live", "main_v4"): [{"name": "client_id", "type": "STRING"}]})
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


@pytest.fixture(scope="module")
def two_clients(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shred")
    up = start_up(tmp / "data", schemas=app_schemas(tmp / "schemas"))
    try:
        sessions = {}
        for name, args in (("A", []), ("B", ["keep"])):  # A turns telemetry off at the end, B does not
            client = subprocess.run([sys.executable, str(HERE / "glean_client.py"), up.url, str(tmp / f"glean-{name}"), *args],
                                    capture_output=True, text=True, timeout=180)
            assert client.returncode == 0, client.stderr[-3000:]
            sessions[name] = json.loads(client.stdout.strip().splitlines()[-1])["session_uuid"]
        up.wait_committed(11)  # A: custom, 2 baseline, events, metrics, deletion-request; B: the same but the last
        ids = {}
        for name, session in sessions.items():
            (row,) = up.query(f"SELECT client_info.client_id AS c FROM {FAMILY}.custom_v1 "
                              f"WHERE metrics.uuid.e2e_ui_session_uuid = '{session}'")
            ids[name] = row["c"]
        yield up, ids
    finally:
        if up.proc.poll() is None:
            assert up.stop() == 0


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


def test_the_audit_fails_when_a_shredded_client_has_a_row_again(two_clients):
    """A ping of a client already shredded, arriving late (a retry from its queue): the audit names the table."""
    up, ids = two_clients
    body = json.dumps({"ping_info": {"seq": 9, "start_time": "2026-11-23T10:00+00:00", "end_time": "2026-11-23T10:01+00:00"},
                       "client_info": {"client_id": ids["A"], "app_channel": "beta", "app_build": "1",
                                       "app_display_version": "1.2.3", "architecture": "x86_64", "os": "Linux",
                                       "os_version": "6.1", "telemetry_sdk_build": "t", "first_run_date": "2026-11-23+00:00"},
                       "metrics": {}}).encode()
    committed = up.status()["committed"]["messages"]
    request = urllib.request.Request(f"{up.url}/submit/pingpipe-e2e/custom/1/{uuid.uuid4()}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(request, timeout=10).status == 200
    up.wait_committed(committed + 1)
    audit = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=60)
    assert audit.returncode == 1 and f"{FAMILY}.custom_v1: 1 row(s) of clients whose deletion was processed" in audit.stdout


def test_a_users_rules_name_the_user_id_of_their_own_tables_before_the_shipped_ones(tmp_path):
    from pingpipe.privacy.shred import load_rules

    rules_file = tmp_path / "ids.yaml"
    rules_file.write_text("- family: shop\n  column: profile.account_id\n")
    account = [{"name": "profile", "type": "RECORD", "fields": [{"name": "account_id", "type": "STRING"}]}]
    tables = {("shop_live", "deletion_request_v1"): account, ("shop_live", "orders_v1"): account,
              ("shop_live", "visits_v1"): [{"name": "page", "type": "STRING"}]}
    assert plan(tables).targets == {}  # the shipped rules know no such column: nothing to shred
    p = plan(tables, load_rules(rules_file))
    assert [t for t, _ in statements(p, dry_run=False)] == ["shop_live.orders_v1"] and p.skipped == ["shop_live.visits_v1"]
    rules_file.write_text("- family: shop\n")
    out = subprocess.run([PINGPIPE, "shred", "--data", str(tmp_path), "--user-ids", str(rules_file)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1 and "entry 0 must be {family: PATTERN, column: PATH}" in out.stderr
    assert "Traceback" not in out.stderr
