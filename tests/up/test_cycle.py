"""`up`'s daily cycle: yesterday's rows into the stable tables, deleted clients shredded, expired rows gone;
each day once, across restarts; by itself in `up`, or by hand with `pingpipe cycle`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import uuid

import pytest

from pingpipe.decoder.core import DecoderConfig
from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import encode_line
from pingpipe.schemas.names import CYCLES
from pingpipe.schemas.registry import Registry
from pingpipe.up import cycle, cycle_plan, work
from pingpipe.up.commit import Committer
from tests.helpers import PINGPIPE
from tests.up.test_hardening import CLIENT_INFO, PING_INFO

TODAY = dt.datetime.now(dt.timezone.utc).date()
YESTERDAY = TODAY - dt.timedelta(days=1)


def line(doctype: str, day: dt.date, body: bytes, doc: str | None = None) -> bytes:
    return encode_line(
        body, {"uri": f"/submit/pingpipe-demo/{doctype}/1/{doc or uuid.uuid4()}", "submission_timestamp": f"{day}T10:00:00.000000Z"}
    )


def ping(client: str) -> bytes:
    return json.dumps({"ping_info": PING_INFO, "client_info": {**CLIENT_INFO, "client_id": client}, "metrics": {}}).encode()


def test_the_cycle_dedupes_yesterday_shreds_and_expires_once_per_day(tmp_path):
    work.init_worker(DecoderConfig())
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    path = tmp_path / "s1.ndjson"
    path.write_bytes(
        b"".join(
            [
                line("hello", YESTERDAY, ping(gone)),
                line("hello", YESTERDAY, ping(kept)),
                line("deletion-request", YESTERDAY, ping(gone)),
                line("hello", YESTERDAY - dt.timedelta(days=30), b"{not json"),  # an error row past its retention
                line("hello", YESTERDAY, b"{not json either"),  # a recent one
            ]
        )
    )
    Committer(writer).commit(work.process_segments([str(path)]), [path])
    assert cycle.due(writer, TODAY) == YESTERDAY
    report = cycle.run_cycle(writer, Registry.load(None), YESTERDAY, error_retention_days=14)
    assert report["stable"]["pingpipe_demo_stable.hello_v1"] == 2  # copied before the shred...
    assert report["shredded"] == {"pingpipe_demo_live.hello_v1": 1, "pingpipe_demo_stable.hello_v1": 1}  # ...and shredded
    assert report["expired"] == {"payload_bytes_error.structured": 1}
    for table in ("pingpipe_demo_live.hello_v1", "pingpipe_demo_stable.hello_v1"):
        assert writer.query(f"SELECT client_info.client_id FROM {table}").fetchall() == [(kept,)]
    assert writer.query("SELECT count(*) FROM pingpipe_demo_live.deletion_request_v1").fetchone()[0] == 1
    assert writer.query("SELECT count(*) FROM payload_bytes_error.structured").fetchone()[0] == 1
    assert cycle.due(writer, TODAY) is None  # done for the day, and remembered in the file
    writer.close()
    again = DuckDBWriter(tmp_path / "w.duckdb")
    assert cycle.due(again, TODAY) is None and cycle.due(again, TODAY + dt.timedelta(days=1)) == TODAY
    assert cycle.due(again, TODAY + dt.timedelta(days=3)) == TODAY  # `up` stopped three days: the oldest first, none skipped
    again.close()


def test_an_old_day_redone_by_hand_after_a_stop_hides_none_of_the_days_the_stop_left(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    stopped = TODAY - dt.timedelta(days=5)  # its cycle ran the next night, then `up` stopped
    ran = dt.datetime.combine(stopped + dt.timedelta(days=1), dt.time(0, 30), dt.timezone.utc)
    cycle.last_cycle(writer)  # makes the table
    with writer.transaction() as con:
        con.execute(f"INSERT INTO {CYCLES} VALUES (?, ?, '{{}}')", [stopped, ran])
        con.execute(f"INSERT INTO {CYCLES} VALUES (?, now(), '{{}}')", [TODAY - dt.timedelta(days=30)])  # redone by hand today
    assert cycle.due(writer, TODAY) == stopped + dt.timedelta(days=1)
    writer.close()


@pytest.mark.system
def test_up_runs_the_cycle_by_itself_and_by_hand(run_up):
    up = run_up()
    deadline = time.monotonic() + 30
    while not up.status()["last_cycle"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert up.status()["last_cycle"]["day"] == str(YESTERDAY)  # at start: yesterday had not run
    before = YESTERDAY - dt.timedelta(days=1)  # a day to redo by hand (one that has ended)
    out = subprocess.run([PINGPIPE, "cycle", "--data", str(up.data), "--date", str(before)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and f"daily cycle for {before}" in out.stdout, out.stderr
    assert up.status()["last_cycle"]["day"] == str(before)
    assert up.stop() == 0


def test_an_error_row_of_a_message_without_a_submission_timestamp_still_expires(tmp_path):
    """A raw line made elsewhere, with no (or a broken) submission_timestamp: its error row is stamped
    when it is made, so the retention reaches it."""
    from pingpipe.privacy.expire import expire, plan

    work.init_worker(DecoderConfig())
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    path = tmp_path / "s1.ndjson"
    path.write_bytes(
        encode_line(b"{not json", {"uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}"})
        + encode_line(b"{not json", {"uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}", "submission_timestamp": "yesterday-ish"})
    )
    made = dt.datetime.now(dt.timezone.utc)
    Committer(writer).commit(work.process_segments([str(path)]), [path])
    stamps = [r[0] for r in writer.query("SELECT submission_timestamp FROM payload_bytes_error.structured").fetchall()]
    assert len(stamps) == 2 and all(abs((s - made).total_seconds()) < 60 for s in stamps)
    with writer.transaction() as con:
        planned = plan(list(cycle.tables_of(writer)), {}, error_retention_days=14)
        assert expire(con, planned, now=made + dt.timedelta(days=13)) == {}
        assert expire(con, planned, now=made + dt.timedelta(days=15)) == {"payload_bytes_error.structured": 2}
    writer.close()


FIELDS = [
    {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "n", "type": "INT64", "mode": "NULLABLE"},
]


def test_dedupe_keeps_the_first_row_per_document_of_the_utc_day_widens_the_stable_table_and_is_idempotent(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    live = TableId("app_live", "ping_v1")
    rows = [
        {"document_id": "a", "submission_timestamp": "2026-11-23T10:00:02.000000Z", "n": 2},
        {"document_id": "a", "submission_timestamp": "2026-11-23T10:00:01.000000Z", "n": 1},  # written later, received first
        {"document_id": "b", "submission_timestamp": "2026-11-23T23:59:59.999999Z", "n": 3},
        {"document_id": "c", "submission_timestamp": "2026-11-24T00:00:00.000000Z", "n": 4},
        {"document_id": "c", "submission_timestamp": "2026-11-22T23:59:59.000000Z", "n": 5},  # another day's copy of c
    ]
    writer.write({live: (FIELDS, rows)})
    for _ in range(2):
        assert cycle.copy_deduplicate(writer, dt.date(2026, 11, 23)) == {"app_stable.ping_v1": 2}
    assert writer.query("SELECT document_id, n FROM app_stable.ping_v1 ORDER BY 1").fetchall() == [("a", 1), ("b", 3)]
    assert writer.query("SELECT count(*) FROM app.ping").fetchone()[0] == 2  # the user-facing view
    wider = [*FIELDS, {"name": "extra", "type": "STRING", "mode": "NULLABLE"}]
    writer.write({live: (wider, [{"document_id": "d", "submission_timestamp": "2026-11-24T08:00:00Z", "n": 6, "extra": "x"}])})
    assert cycle.copy_deduplicate(writer, dt.date(2026, 11, 24)) == {"app_stable.ping_v1": 2}
    assert writer.query("SELECT document_id, n, extra FROM app.ping ORDER BY 1").fetchall() == [
        ("a", 1, None),
        ("b", 3, None),
        ("c", 4, None),
        ("d", 6, "x"),
    ]
    assert cycle.due(writer, dt.date(2026, 11, 25)) == dt.date(2026, 11, 24)  # a copy alone is not the day's cycle
    writer.close()


def test_the_plan_names_each_step_with_the_tables_the_copy_leaves_for_the_next():
    """One plan for both engines: the copy's SQL is BigQuery's; shred and expiry reach the stable
    tables the copy will make (or widen), before they exist."""
    with_id = [*FIELDS, {"name": "client_info", "type": "RECORD", "mode": "NULLABLE", "fields": [{"name": "client_id", "type": "STRING"}]}]
    tables = {
        ("app_live", "hello_v1"): with_id,
        ("app_live", "deletion_request_v1"): with_id,
        ("app_stable", "hello_v1"): FIELDS,  # made before the live table had a client id
        ("payload_bytes_error", "structured"): FIELDS,
    }
    p = cycle_plan.plan(tables, YESTERDAY, retention={"app_live.hello_v1": 30}, error_retention_days=14, rules=None)
    assert [(str(c.live), str(c.stable), c.view.name) for c in p.copies] == [
        ("app_live.deletion_request_v1", "app_stable.deletion_request_v1", "app.deletion_request"),
        ("app_live.hello_v1", "app_stable.hello_v1", "app.hello"),
    ]
    copy = p.copies[1].query
    assert "`app_live.hello_v1`" in copy.sql and "@submission_date" in copy.sql and copy.date_parameter == "submission_date"
    assert p.shred.targets == {("app", "client_info.client_id"): [("app_live", "hello_v1"), ("app_stable", "hello_v1")]}
    assert p.expiry == {("app_live", "hello_v1"): 30, ("app_stable", "hello_v1"): 30, ("payload_bytes_error", "structured"): 14}
    assert p.whole
    only = cycle_plan.plan(tables, YESTERDAY, steps=(cycle_plan.STABLE,))
    assert len(only.copies) == 2 and only.expiry == {} and only.shred.targets == {} and not only.whole
    with pytest.raises(ValueError, match="no such step: dedupe"):
        cycle_plan.plan(tables, YESTERDAY, steps=("dedupe",))


@pytest.mark.system
@pytest.mark.parametrize("point", ["cycle.copy", "cycle.record"])
def test_a_cycle_killed_midway_loses_and_doubles_nothing_and_its_rerun_finishes_the_day(tmp_path, point):
    """SIGKILL inside the copy's transaction (nothing of it committed), or after every step but the
    record (the day not marked done): `pingpipe cycle` again gives the tables of one clean run."""
    import os

    work.init_worker(DecoderConfig())
    data = tmp_path / "data"
    data.mkdir()
    writer = DuckDBWriter(data / "warehouse.duckdb")
    path = tmp_path / "s1.ndjson"
    path.write_bytes(line("hello", YESTERDAY, ping(str(uuid.uuid4()))) + line("hello", YESTERDAY, ping(str(uuid.uuid4()))))
    Committer(writer).commit(work.process_segments([str(path)]), [path])
    with writer.transaction() as con:  # a copy the committer did not see (another loader's): the stable table keeps one
        con.execute("INSERT INTO pingpipe_demo_live.hello_v1 SELECT * FROM pingpipe_demo_live.hello_v1 LIMIT 1")
    writer.close()
    command = [PINGPIPE, "cycle", "--data", str(data), "--date", str(YESTERDAY)]
    killed = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "PINGPIPE_KILL_AT": point})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    writer = DuckDBWriter(data / "warehouse.duckdb")
    stable = [t for t in writer.tables() if str(t) == "pingpipe_demo_stable.hello_v1"]
    assert bool(stable) == (point == "cycle.record") and cycle.due(writer, TODAY) == YESTERDAY
    writer.close()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "pingpipe_demo_stable.hello_v1: kept 2 row(s)" in done.stdout, done.stdout + done.stderr
    writer = DuckDBWriter(data / "warehouse.duckdb")
    assert writer.query("SELECT count(*), count(DISTINCT document_id) FROM pingpipe_demo_stable.hello_v1").fetchone() == (2, 2)
    assert writer.query("SELECT count(*) FROM pingpipe_demo_live.hello_v1").fetchone()[0] == 3  # live keeps every copy
    assert cycle.due(writer, TODAY) is None
    writer.close()
