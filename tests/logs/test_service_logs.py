"""Plain mozlog lines of a service not on Glean: one table per Type, identifiers out by the service's policy."""

from __future__ import annotations

import json
import subprocess

import orjson
import pytest

from pingpipe.logs.policy import keyed_hash
from tests.helpers import PINGPIPE
from tests.up.conftest import scan_warehouse

pytestmark = pytest.mark.system

NS = 1_764_403_200_000_000_000  # 2025-11-29T08:00:00Z in nanoseconds


def mozlog(type_: str, fields: dict, offset: int = 0) -> bytes:
    return (
        orjson.dumps(
            {
                "Timestamp": NS + offset,
                "Type": type_,
                "Logger": "fxa-auth",
                "Hostname": "web-1",
                "EnvVersion": "2.0",
                "Severity": 6,
                "Pid": 4242,
                "Fields": fields,
            }
        )
        + b"\n"
    )


@pytest.fixture
def service_log(tmp_path):
    log = tmp_path / "auth.log"
    log.write_bytes(
        mozlog(
            "request.summary",
            {
                "path": "/v1/account/login",
                "code": 200,
                "t": 35,
                "uid": "7f3a01",
                "remoteAddressChain": ["81.2.69.160", "10.0.0.1"],
                "email": "someone@example.com",
                "msg": "login from 81.2.69.160 ok",
            },
        )
        + mozlog("request.summary", {"path": "/v1/account/status", "code": 404, "t": 3, "uid": "7f3a01"}, 1)
        + mozlog("account.login", {"uid": "7f3a01", "service": "sync", "ip": "2a02:a311:803c:6300:4074:5cf2:91ac:d546"}, 2)
        + b"Traceback (most recent call last):\n"
        + b'{"level": "info", "message": "not mozlog"}\n'
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text("drop: [remoteAddressChain]\nhash: [uid]\ncolumns:\n  request.summary: {path: STRING, code: INT64, t: INT64}\n")
    key = tmp_path / "hash.key"
    key.write_bytes(b"s3cret key outside the warehouse\n")
    return log, policy, key


def ingest(up, log, policy, key):
    done = subprocess.run(
        [
            PINGPIPE,
            "logs",
            "ingest",
            "--data",
            str(up.data),
            "--service",
            "fxa-auth",
            "--policy",
            str(policy),
            "--hash-key-file",
            str(key),
            str(log),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_type_gets_its_table_with_the_envelope_and_the_policy_applied(run_up, service_log):
    log, policy, key = service_log
    up = run_up()
    assert "queued 5 line(s)" in ingest(up, log, policy, key)
    up.wait_committed(5)

    summary = up.query(
        "SELECT submission_timestamp, timestamp, type, logger, hostname, env_version, severity, pid, "
        "fields.path, fields.code, fields.t, extra_fields FROM fxa_auth_logs_live.request_summary ORDER BY timestamp"
    )
    first = summary[0]
    assert (
        first["timestamp"],
        first["type"],
        first["logger"],
        first["hostname"],
        first["env_version"],
        first["severity"],
        first["pid"],
    ) == (NS, "request.summary", "fxa-auth", "web-1", "2.0", 6, 4242)
    assert str(first["submission_timestamp"]).startswith("2025-11-29T08:00:00")
    assert [(r["path"], r["code"], r["t"]) for r in summary] == [("/v1/account/login", 200, 35), ("/v1/account/status", 404, 3)]
    extra = json.loads(first["extra_fields"])
    hashed = keyed_hash("7f3a01", b"s3cret key outside the warehouse")
    assert extra == {"uid": hashed, "msg": "login from [ip] ok"}  # remoteAddressChain dropped, the e-mail field too

    (login,) = up.query("SELECT fields FROM fxa_auth_logs_live.account_login")
    assert json.loads(login["fields"]) == {"uid": hashed, "service": "sync"}  # the same user joins by the hash

    errors = up.query("SELECT error_type, error_message, decode(payload) AS line FROM payload_bytes_error.structured ORDER BY line")
    assert [(e["error_type"], e["line"]) for e in errors] == [
        ("ParseMozlog", "Traceback (most recent call last):"),
        ("ParseMozlog", '{"level": "info", "message": "not mozlog"}'),
    ]
    assert [e["error_message"].split(": ", 1)[1] for e in errors] == ["not JSON", "JSON, but not mozlog: no Type or no Timestamp"]
    for needle in ("81.2.69.160", "10.0.0.1", "someone@example.com", "2a02:a311", "7f3a01"):
        assert scan_warehouse(up, needle) == [], needle

    audit = subprocess.run([PINGPIPE, "audit", "--data", str(up.data)], capture_output=True, text=True, timeout=120)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_same_lines_again_are_counted_duplicates(run_up, service_log):
    log, policy, key = service_log
    up = run_up()
    ingest(up, log, policy, key)
    up.wait_committed(5)
    ingest(up, log, policy, key)
    status = up.wait_committed(10)
    assert status["committed"]["duplicates"] == 3
    assert up.query("SELECT count(*) AS n FROM fxa_auth_logs_live.request_summary") == [{"n": 2}]


def test_a_policy_that_hashes_without_a_key_is_one_line_before_anything_is_queued(tmp_path, service_log):
    log, policy, _ = service_log
    done = subprocess.run(
        [PINGPIPE, "logs", "ingest", "--data", str(tmp_path / "d"), "--service", "fxa-auth", "--policy", str(policy), str(log)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "give --hash-key-file" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "d" / "queue").exists()


def test_the_daily_cycle_counts_each_services_events_per_type(run_up, service_log):
    """All Event Counts: generated from the service's tables, run by the daily cycle after dedupe."""
    log, policy, key = service_log
    up = run_up()
    ingest(up, log, policy, key)
    up.wait_committed(5)
    from pingpipe.up import client

    report = client.call(up.data, "POST", "/cycle?date=2025-11-29")
    assert "fxa_auth_logs_derived.event_counts_v1" in report["etl"]["ran"], report["etl"]
    counts = up.query("SELECT submission_date, type, logger, events FROM fxa_auth_logs_derived.event_counts_v1 ORDER BY type")
    assert [(str(c["submission_date"]), c["type"], c["logger"], c["events"]) for c in counts] == [
        ("2025-11-29", "account.login", "fxa-auth", 1),
        ("2025-11-29", "request.summary", "fxa-auth", 2),
    ]
