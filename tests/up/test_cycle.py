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
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import encode_line
from pingpipe.schemas.registry import Registry
from pingpipe.up import cycle, work
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
    again.close()


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
    from pingpipe.privacy.expire import expire

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
        tables = list(cycle.tables_of(writer))
        assert expire(con, tables, {}, error_retention_days=14, now=made + dt.timedelta(days=13)) == {}
        assert expire(con, tables, {}, error_retention_days=14, now=made + dt.timedelta(days=15)) == {"payload_bytes_error.structured": 2}
    writer.close()
