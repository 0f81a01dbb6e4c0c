"""`pingpipe stats` (pingpipe/up/stats.py): a day's pings accounted for, the queue's ledger against the
warehouse, on segments sealed as the edge seals them and committed, cycled, shredded, expired and
replayed by the real stages."""

from __future__ import annotations

import datetime as dt
import uuid

from pingpipe.decoder.core import Decoder, DecoderConfig
from pingpipe.edge.publish.segments import OPEN, seal_file
from pingpipe.loader.load import Loader
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.schemas.registry import Registry
from pingpipe.up import cycle, replay, stats, work
from pingpipe.up.commit import Committer
from tests.up.test_cycle import YESTERDAY, ping
from tests.up.test_replay import registry_without_hello
from tests.up.test_trace import sent

OLD = YESTERDAY - dt.timedelta(days=30)


def segment(queue, n: int, lines: list[bytes]):
    """Written and sealed as the edge does (sealing counts it into the queue's ledger)."""
    path = queue / f"{n:020d}-elsewhere-1-000001{OPEN}"
    path.write_bytes(b"".join(lines))
    return seal_file(path)


def test_every_ping_accepted_is_a_row_an_error_a_duplicate_queued_shredded_or_expired_and_a_loss_is_named(tmp_path):
    work.init_worker(DecoderConfig(schemas=registry_without_hello(tmp_path)))
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer)
    queue = tmp_path / "queue"
    queue.mkdir()
    kept, gone, twice = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    first = segment(
        queue,
        1,
        [
            sent("baseline", ping(kept), str(uuid.uuid4())),
            sent("baseline", ping(kept), twice),
            sent("baseline", ping(kept), twice, second=5),  # a counted duplicate
            sent("baseline", ping(gone), str(uuid.uuid4())),  # shredded by the cycle
            sent("deletion-request", ping(gone), str(uuid.uuid4())),
            sent("hello", ping(kept), str(uuid.uuid4())),  # an error row, then replayed into a row
            sent("hello", b"{not json", str(uuid.uuid4())),
            sent("hello", b"{not json", str(uuid.uuid4()), day=OLD),  # expired by the cycle
        ],
    )
    committer.commit(work.process_segments([str(first)]), [first])
    cycle.run_cycle(writer, Registry.load(None), YESTERDAY, error_retention_days=14)
    decoder = Decoder.from_config(DecoderConfig())
    replay.replay(writer, committer, decoder, Loader(decoder.registry), replay.Selection(doctypes=("hello",)))
    segment(queue, 2, [sent("baseline", ping(kept), str(uuid.uuid4()), second=9)])  # sealed, not committed yet

    day = stats.stats(writer.con, YESTERDAY, queue)
    assert day["holds"] and day["groups"] == [
        {
            "group": "all",
            "accepted": 8,
            "rows": 4,
            "errors": 1,
            "duplicates": 1,
            "queued": 1,
            "shredded": 1,
            "expired": 0,
            "replayed": 1,
            "holds": True,
        }
    ]
    old = stats.stats(writer.con, OLD, queue)["groups"]
    assert [(g["accepted"], g["expired"], g["holds"]) for g in old] == [(1, 1, True)]
    by = {g["group"]: (g["accepted"], g["holds"]) for g in stats.stats(writer.con, YESTERDAY, queue, "table")["groups"]}
    assert by == {
        "pingpipe_demo_live.baseline_v1": (5, True),
        "pingpipe_demo_live.deletion_request_v1": (1, True),
        "pingpipe_demo_live.hello_v1": (2, True),
    }
    writer.query("DELETE FROM pingpipe_demo_live.baseline_v1 WHERE document_id = ?", [twice])  # lost behind pingpipe's back
    lost = stats.stats(writer.con, YESTERDAY, queue)
    assert not lost["holds"] and lost["groups"][0]["differs"] == "1 accepted and not accounted for (lost after the edge)"
    assert "does NOT hold" in stats.table(lost)[-1]
    writer.close()


def test_the_days_failed_checks_are_listed_beside_its_figures(tmp_path):
    import json

    writer = DuckDBWriter(tmp_path / "w.duckdb")
    writer.con.execute("CREATE TABLE IF NOT EXISTS _pingpipe.cycles (day DATE PRIMARY KEY, finished_at TIMESTAMPTZ, report JSON)")
    outcomes = [
        {"check": 1, "marker": "fail", "passed": False, "message": "2 value(s) of (client_id) are not unique"},
        {"check": 2, "marker": "warn", "passed": True, "message": None},
    ]
    report = {"etl": {"checks": {"app_derived.baseline_clients_daily_v1": outcomes}}}
    writer.con.execute("INSERT INTO _pingpipe.cycles VALUES (?, now(), ?)", [YESTERDAY, json.dumps(report)])
    (tmp_path / "queue").mkdir()
    result = stats.stats(writer.con, YESTERDAY, tmp_path / "queue")
    assert result["checks_failed"] == {"app_derived.baseline_clients_daily_v1": outcomes[:1]}
    assert stats.table(result)[-1] == (
        f"app_derived.baseline_clients_daily_v1: check 1 (#fail) failed on {YESTERDAY}: 2 value(s) of (client_id) are not unique"
    )
    assert stats.stats(writer.con, OLD, tmp_path / "queue")["checks_failed"] == {}
    writer.close()
