"""Replay (pingpipe/up/replay.py): error rows decoded again against the registry as it is now, into
their tables exactly once, in process on a DuckDB warehouse (the command and a real `up`: test_replay_up.py)."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid

import pytest

from pingpipe.decoder.core import Decoder, DecoderConfig
from pingpipe.loader.load import Loader, error_message, error_row
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import RawMessage, encode_line
from pingpipe.schemas.registry import Registry
from pingpipe.up import replay, work
from pingpipe.up.commit import Committer
from tests.up.test_cycle import YESTERDAY, ping

LIVE = "pingpipe_demo_live.hello_v1"


def at(second: int, doctype: str, body: bytes, doc: str | None = None) -> bytes:
    """A raw line of yesterday's 10:00:<second>."""
    uri = f"/submit/pingpipe-demo/{doctype}/1/{doc or uuid.uuid4()}"
    return encode_line(body, {"uri": uri, "submission_timestamp": f"{YESTERDAY}T10:00:{second:02d}.000000Z"})


def registry_without_hello(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(Registry.load().root, root)
    shutil.rmtree(root / "pingpipe-demo" / "hello")
    return root


def test_an_error_row_gives_back_the_message_it_was_made_from_but_its_identifiers():
    attributes = {
        "submission_timestamp": "2026-12-01T10:00:00.000000Z",
        "uri": "/submit/a/b/1/x",
        "document_id": "x",
        "x_debug_id": "tag",
        "geo_country": "PH",
        "user_agent_browser_version": "120",
        "dnt": "1",
        "error_type": "SchemaNotFound",
        "error_message": "no schema",
    }
    row = error_row(b"\x1f\x8bbody", {**attributes, "remote_addr": "10.0.0.1", "user_agent": "Mozilla/5.0"})
    assert "remote_addr" not in row and "user_agent" not in row and row["user_agent_version"] == "120"
    as_read = {**row, "payload": b"\x1f\x8bbody", "submission_timestamp": dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)}
    again = error_message(as_read)
    assert again == RawMessage(b"\x1f\x8bbody", {k: v for k, v in attributes.items() if not k.startswith("error_")})


@pytest.mark.parametrize("chunk", [replay.CHUNK, 2])  # 2: four chunks, the retried copies in different ones
def test_rows_a_missing_schema_refused_are_recovered_once_duplicates_stay_counted_and_garbage_stays(tmp_path, chunk, monkeypatch):
    monkeypatch.setattr(replay, "CHUNK", chunk)
    old = registry_without_hello(tmp_path)
    work.init_worker(DecoderConfig(schemas=old))
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer)
    clients = [str(uuid.uuid4()) for _ in range(4)]
    retried = str(uuid.uuid4())
    segment = tmp_path / "s1.ndjson"
    segment.write_bytes(
        b"".join(
            [at(0, "hello", ping(clients[0])), at(1, "hello", ping(clients[1]))]
            + [at(2, "hello", ping(clients[2])), at(2, "hello", ping(clients[3]))]  # one moment: never split between chunks
            + [at(3, "hello", ping(clients[0]), retried), at(5, "hello", ping(clients[0]), retried)]  # retried: one document
            + [at(4, "hello", b"{not json")]
            + [at(7, "baseline", ping(clients[0]))]  # a good ping, loaded
        )
    )
    committer.commit(work.process_segments([str(segment)]), [segment])
    errors = "payload_bytes_error.structured"
    assert writer.query(f"SELECT exception_class LIKE '%SchemaNotFound', count(*) FROM {errors} GROUP BY 1 ORDER BY 1").fetchall() == [
        (False, 1),  # not JSON
        (True, 6),
    ]
    decoder = Decoder.from_config(DecoderConfig())  # the schema is deployed now
    loader = Loader(decoder.registry)
    everything = replay.Selection()
    before = writer.query(f"SELECT * FROM {errors} ORDER BY ALL").fetchall()
    dry = replay.replay(writer, Committer(writer), decoder, loader, everything, dry_run=True)
    assert dry["picked"] == 7 and dry["tables"] == {LIVE: {"rows": 5, "duplicates": 1}} and dry["unchanged"] == 1
    assert writer.query(f"SELECT * FROM {errors} ORDER BY ALL").fetchall() == before  # nothing changed
    calls = []

    def progress(n: int, of: int) -> None:
        calls.append((n, of))
        if len(calls) == 1:  # an error row arriving while the replay runs is not its to take
            late = tmp_path / "s2.ndjson"
            late.write_bytes(at(9, "hello", b"{late"))
            committer.commit(work.process_segments([str(late)]), [late])

    done = replay.replay(writer, committer, decoder, loader, everything, progress=progress)
    assert calls == ([(2, 7), (4, 7), (6, 7), (7, 7)] if chunk == 2 else [(7, 7)])  # a moment's two rows in one chunk
    assert done["picked"] == 7
    assert done["committed"] == {"rows": 5, "duplicates": 1, "errors": 0} and done["days"] == [str(YESTERDAY)]
    assert writer.query(f"SELECT count(*), count(DISTINCT document_id) FROM {LIVE}").fetchone() == (5, 5)
    assert writer.query(f"SELECT error_type, count(*) FROM {errors} GROUP BY 1 ORDER BY 1").fetchall() == [
        ("ParsePayload", 2),  # still not JSON: left as it was (and the late one)
        ("duplicate", 1),  # the retry's second copy, counted
    ]
    recorded = writer.query(f"SELECT document_id, error_type, into_table FROM {replay.REPLAYS} ORDER BY 1").fetchall()
    assert len(recorded) == 5 and {r[1:] for r in recorded} == {("ParsePayload", LIVE)}
    again = replay.replay(writer, committer, decoder, loader, everything)
    assert again["picked"] == 2 and again["unchanged"] == 2 and "committed" not in again  # nothing left to recover
    assert writer.query(f"SELECT count(*) FROM {LIVE}").fetchone() == (5,)
    writer.close()


def test_a_recovered_ping_of_a_client_already_shredded_is_shredded_at_once_whatever_its_day(tmp_path):
    """Its day is older than a scoped shred reads (LATE_DAYS): the shred after a replay reads from the replay's oldest day."""
    from pingpipe.privacy.shred import LATE_DAYS
    from pingpipe.up import cycle

    work.init_worker(DecoderConfig(schemas=registry_without_hello(tmp_path)))
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer)
    gone = str(uuid.uuid4())
    old = YESTERDAY - dt.timedelta(days=LATE_DAYS + 3)
    segment = tmp_path / "s1.ndjson"
    segment.write_bytes(
        encode_line(ping(gone), {"uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}", "submission_timestamp": f"{old}T10:00:00Z"})
        + encode_line(
            ping(gone),
            {"uri": f"/submit/pingpipe-demo/deletion-request/1/{uuid.uuid4()}", "submission_timestamp": f"{YESTERDAY}T10:00:00Z"},
        )
    )
    committer.commit(work.process_segments([str(segment)]), [segment])
    for _ in range(2):  # the client is shredded (nothing of it loaded yet), and the next run is a scoped one
        cycle.shred_warehouse(writer)
    decoder = Decoder.from_config(DecoderConfig())
    report = replay.replay(writer, committer, decoder, Loader(decoder.registry), replay.Selection())
    assert report["committed"]["rows"] == 1 and writer.query(f"SELECT count(*) FROM {LIVE}").fetchone() == (1,)
    replay.shred_replayed(report, lambda since: cycle.shred_warehouse(writer, since=since))
    assert report["shredded"] == {LIVE: 1} and writer.query(f"SELECT count(*) FROM {LIVE}").fetchone() == (0,)
    writer.close()
