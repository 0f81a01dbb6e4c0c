"""`pingpipe trace` (pingpipe/up/trace.py): every place a document id is known, on a DuckDB warehouse
made by the real decoder, commit, cycle, shred, expiry and replay, and the queue beside it."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from pingpipe.decoder.core import Decoder, DecoderConfig
from pingpipe.loader.load import Loader
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import encode_line
from pingpipe.schemas.registry import Registry
from pingpipe.up import cycle, replay, trace, work
from pingpipe.up.commit import Committer
from tests.up.test_cycle import YESTERDAY, ping
from tests.up.test_replay import registry_without_hello


def sent(doctype: str, body: bytes, doc: str, day: dt.date = YESTERDAY, second: int = 0) -> bytes:
    uri = f"/submit/pingpipe-demo/{doctype}/1/{doc}"
    return encode_line(body, {"uri": uri, "submission_timestamp": f"{day}T10:00:{second:02d}.000000Z"})


def test_trace_finds_each_document_wherever_it_went(tmp_path):
    work.init_worker(DecoderConfig(schemas=registry_without_hello(tmp_path)))  # hello's schema is not deployed yet
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer)
    kept, gone = str(uuid.uuid4()), str(uuid.uuid4())
    good, bad, shredded, recovered, expired, queued = (str(uuid.uuid4()) for _ in range(6))
    wrong = json.loads(ping(kept))
    wrong["ping_info"]["seq"] = "seven"
    segment = tmp_path / "s1.ndjson"
    segment.write_bytes(
        b"".join(
            [
                sent("baseline", ping(kept), good),
                sent("baseline", ping(kept), good, second=5),  # a retry: a counted duplicate
                sent("baseline", json.dumps(wrong).encode(), bad),
                sent("baseline", ping(gone), shredded),
                sent("deletion-request", ping(gone), str(uuid.uuid4())),
                sent("hello", ping(kept), recovered),  # refused now, replayed below
                sent("hello", b"{not json", expired, day=YESTERDAY - dt.timedelta(days=30)),  # past the error rows' retention
            ]
        )
    )
    committer.commit(work.process_segments([str(segment)]), [segment])
    report = cycle.run_cycle(writer, Registry.load(None), YESTERDAY, error_retention_days=14)
    assert report["shredded"] and report["expired"]
    decoder = Decoder.from_config(DecoderConfig())
    assert (
        replay.replay(writer, committer, decoder, Loader(decoder.registry), replay.Selection(doctypes=("hello",)))["committed"]["rows"] == 1
    )
    queue = tmp_path / "queue"
    queue.mkdir()
    (queue / "0001.ndjson").write_bytes(sent("baseline", ping(kept), queued))

    def states(doc: str) -> list[tuple]:
        places = trace.trace(writer.con, doc, queue)["places"]
        return [(p["state"], p.get("table") or p.get("segment") or p.get("into")) for p in places]

    found = trace.trace(writer.con, good, queue)["places"]
    assert found[0]["stable"] == "pingpipe_demo_stable.baseline_v1" and found[0]["submission_timestamp"] == f"{YESTERDAY}T10:00:00.000000Z"
    assert states(good) == [("row", "pingpipe_demo_live.baseline_v1"), ("duplicate", "payload_bytes_error.structured")]
    assert found[1]["of"] == ["pingpipe_demo_live.baseline_v1"]
    failed = trace.trace(writer.con, bad)["places"]
    assert [(p["state"], p["error_type"], p["path"]) for p in failed] == [("error", "ParsePayload", "#/ping_info/seq")]
    assert states(shredded) == [("shredded", "pingpipe_demo_live.baseline_v1"), ("shredded", "pingpipe_demo_stable.baseline_v1")]
    assert states(recovered) == [("row", "pingpipe_demo_live.hello_v1"), ("replayed", "pingpipe_demo_live.hello_v1")]
    assert trace.trace(writer.con, recovered)["places"][0]["stable"] is None  # its day's cycle ran before it came back
    assert states(expired) == [("expired", "payload_bytes_error.structured")]
    assert states(queued) == [("queued", "0001.ndjson")]
    assert states(str(uuid.uuid4())) == [("unknown", None)]
    text = "\n".join(trace.lines(trace.trace(writer.con, bad)))
    assert "ParsePayload at #/ping_info/seq" in text
    writer.close()
