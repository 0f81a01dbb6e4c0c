"""Replay on BigQuery (pingpipe/up/replay_bigquery.py), as a user runs it: `pingpipe replay --warehouse
bigquery:P` against the real bqemulator: a Beam job (the DirectRunner, and the DaskRunner) and one transaction."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid

import pytest

from pingpipe import faults
from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.loader.load import Loader
from pingpipe.loader.writers.bigquery import BigQueryWriter
from pingpipe.message import RawMessage
from pingpipe.schemas.names import META_DATASET, REPLAYS, TableId, staged, staged_for
from pingpipe.up.replay import Selection
from pingpipe.up.replay_bigquery import OUTCOMES
from tests.helpers import PINGPIPE
from tests.loader.bigquery_servers import client_for
from tests.up.test_cycle import ping
from tests.up.test_replay import at, registry_without_hello

LIVE = "pingpipe_demo_live.hello_v1"
ERRORS = "payload_bytes_error.structured"


def load(writer, decoder, lines: list[bytes]) -> None:
    """The lines decoded as `decoder` decodes them, loaded as the decoder's job loads them."""
    messages = []
    for line in lines:
        result = decoder.decode(RawMessage.from_line(line))
        message = result.to_message() if isinstance(result, Decoded) else result.message
        messages.append((message.data, message.attributes))
    writer.write(Loader(decoder.registry).batch(messages).tables)


@pytest.mark.external
def test_rows_a_missing_schema_refused_are_recovered_once_on_bigquery_and_a_kill_before_the_commit_changes_nothing(tmp_path, bqemulator):
    client = client_for(bqemulator.endpoint)
    writer = BigQueryWriter("test", client=client, retry_deadline=30)
    clients = [str(uuid.uuid4()) for _ in range(3)]
    retried, through = str(uuid.uuid4()), str(uuid.uuid4())
    old = Decoder.from_config(DecoderConfig(schemas=registry_without_hello(tmp_path)))
    now = Decoder.from_config(DecoderConfig())
    load(writer, now, [at(6, "hello", ping(clients[2]), through)])  # a retry that got through once the schema was there
    load(
        writer,
        old,
        [at(0, "hello", ping(clients[0])), at(1, "hello", ping(clients[1]))]
        + [at(2, "hello", ping(clients[0]), retried), at(3, "hello", ping(clients[0]), retried)]  # two copies of one
        + [at(4, "hello", ping(clients[2]), through)]  # its first copy, refused then
        + [at(5, "hello", b"{not json")],
    )

    def errors() -> list[tuple]:
        return sorted(tuple(r) for r in client.query(f"SELECT error_type, count(*) FROM `test.{ERRORS}` GROUP BY 1").result())

    def live() -> tuple:
        return tuple(next(iter(client.query(f"SELECT count(*), count(DISTINCT document_id) FROM `test.{LIVE}`").result())))

    assert errors() == [("ParsePayload", 6)] and live() == (1, 1)
    env = bqemulator.env()

    def replay(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PINGPIPE, "replay", "--warehouse", "bigquery:test", "--format", "json", *args],
            capture_output=True,
            text=True,
            timeout=180,
            env={**env, **extra},
        )

    dry = replay("--dry-run")
    assert dry.returncode == 0, dry.stderr
    preview = json.loads(dry.stdout)
    assert preview["picked"] == 6 and preview["unchanged"] == 1 and "committed" not in preview
    assert preview["tables"] == {LIVE: {"rows": 3, "duplicates": 2}}  # the retried copy, and the copy its table holds
    assert preview["recovers"] == {"pingpipe-demo/hello": {"ParsePayload": 5}}  # a schema not found is ParsePayload, as at Mozilla
    killed = replay(**{faults.ENV: "replay"})  # everything staged, nothing committed
    assert killed.returncode == -9, killed.stderr
    assert errors() == [("ParsePayload", 6)] and live() == (1, 1)
    done = replay("--runner", "DaskRunner")  # the same job on a local Dask cluster: Beam's options pass through
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["committed"] == {"rows": 3, "duplicates": 2, "errors": 0}
    assert {k: report[k] for k in ("tables", "unchanged")} == {k: preview[k] for k in ("tables", "unchanged")}  # as previewed
    assert live() == (4, 4)
    assert errors() == [("ParsePayload", 1), ("duplicate", 2)]  # the garbage stays; the duplicates counted
    recorded = client.query(f"SELECT document_id, error_type, into_table FROM `test.{REPLAYS}`").result()
    assert sorted(r[1:] for r in recorded) == [("ParsePayload", LIVE)] * 3
    staged = [t.table_id for t in client.list_tables(f"test.{META_DATASET}") if t.table_id.startswith("replay_")]
    assert len({name.split("__")[0] for name in staged}) == 1  # the killed run's, which expire by themselves; the finished run's dropped
    again = replay()
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 1 and "committed" not in json.loads(again.stdout)
    assert live() == (4, 4)
    where = subprocess.run(
        [PINGPIPE, "trace", retried, "--warehouse", "bigquery:test", "--since", "2026-01-01"], capture_output=True, text=True, env=env
    )
    assert where.returncode == 0, where.stderr  # the recovered row, its copy counted, and the replay: on BigQuery too
    assert [line.split()[0] for line in where.stdout.splitlines()[1:]] == ["row", "duplicate", "replayed"], where.stdout


def test_rows_still_in_a_streaming_buffer_are_held_back_for_a_later_run():
    """BigQuery refuses a DELETE over them: the pick stops before the oldest buffered write."""
    from pingpipe.up.replay_bigquery import bounded

    noon = dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc)
    hour = dt.timedelta(hours=1)
    assert bounded(noon, []) == (noon, False)
    assert bounded(noon, [noon + hour]) == (noon, False)
    assert bounded(noon, [noon + hour, noon - hour]) == (noon - hour - dt.timedelta(microseconds=1), True)
    assert bounded(None, [noon]) == (None, False)


def test_a_staged_table_names_its_run_and_the_table_it_is_for_and_no_other_table_passes_for_one():
    run = uuid.uuid4().hex
    for table in (TableId("pingpipe_demo_live", "hello_v1"), TableId("payload_bytes_error", "structured"), OUTCOMES):
        assert staged_for(run, staged(run, table)) == table
        assert staged_for(uuid.uuid4().hex, staged(run, table)) is None
    assert staged_for(run, TableId("pingpipe_demo_live", f"replay_{run}__x__y")) is None


def test_a_selection_reads_the_same_rows_on_bigquery_with_named_parameters():
    selection = Selection(dt.date(2026, 12, 1), dt.date(2026, 12, 2), ("a",), (), ("ParsePayload", "SchemaNotFound"))
    sql, params = selection.where_bigquery()
    where, values = selection.where()
    assert "?" not in sql and sql == where.replace("?", "@p{}").format(*range(len(values)))
    assert [(p.name, p.type_, p.value) for p in params] == [
        (f"p{i}", "TIMESTAMP" if isinstance(v, dt.datetime) else "STRING", v) for i, v in enumerate(values)
    ]
