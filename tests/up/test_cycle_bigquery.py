"""The daily cycle at scale: `pingpipe cycle --warehouse bigquery:P`, as the CronJob runs it, on the
real bqemulator: dedupe, shred, expiry and a derived table, each as jobs where the data is."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import uuid

import pytest
from google.cloud import bigquery

from pingpipe.loader.tables import ERROR_FIELDS, TableId
from pingpipe.loader.writers.bigquery import BigQueryWriter
from pingpipe.schemas.registry import Registry
from tests.helpers import PINGPIPE
from tests.loader.bigquery_servers import client_for

pytestmark = pytest.mark.external

PROJECT = "cycle"
DAY = dt.date(2026, 11, 28)
FIELDS = [
    {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "client_info", "type": "RECORD", "mode": "NULLABLE", "fields": [{"name": "client_id", "type": "STRING", "mode": "NULLABLE"}]},
]
DAILY_SQL = """SELECT DATE(submission_timestamp) AS submission_date, count(*) AS pings
FROM pingpipe_demo_stable.hello_v1
WHERE DATE(submission_timestamp) = @submission_date
GROUP BY 1
"""


def ping(client_id: str, at: str, document_id: str | None = None) -> dict:
    return {"document_id": document_id or str(uuid.uuid4()), "submission_timestamp": at, "client_info": {"client_id": client_id}}


def registry_keeping_hello(tmp_path, days: int):
    """The shipped registry, with the demo app's hello ping kept `days` days."""
    root = tmp_path / "schemas"
    shutil.copytree(Registry.load().root, root)
    path = root / "pingpipe-demo" / "hello" / "hello.1.schema.json"
    schema = json.loads(path.read_text())
    schema["mozPipelineMetadata"]["expiration_policy"] = {"delete_after_days": days}
    path.write_text(json.dumps(schema))
    return root


def test_the_daily_cycle_runs_on_bigquery_as_jobs(bqemulator, tmp_path):
    client = client_for(bqemulator.endpoint, project=PROJECT)
    writer = BigQueryWriter(PROJECT, client=client, retry_deadline=30)  # no registry: the tables have no expiry yet
    hello, stable = TableId("pingpipe_demo_live", "hello_v1"), f"{PROJECT}.pingpipe_demo_stable.hello_v1"
    writer.write(
        {
            hello: (
                FIELDS,
                [
                    ping("kept", "2026-11-28T10:00:00Z", "a"),
                    ping("kept", "2026-11-28T11:00:00Z", "a"),
                    ping("gone", "2026-11-28T12:00:00Z"),
                    ping("kept", "2026-11-29T01:00:00Z"),
                ],
            ),
            TableId("pingpipe_demo_live", "deletion_request_v1"): (FIELDS, [ping("gone", "2026-11-28T13:00:00Z")]),
        }
    )
    # the stable table as an earlier run left it: a row of the day that is not in live any more, and another day
    target = bigquery.Table(stable, schema=[bigquery.SchemaField.from_api_repr(f) for f in FIELDS])
    target.time_partitioning = bigquery.TimePartitioning(field="submission_timestamp")
    client.create_dataset(f"{PROJECT}.pingpipe_demo_stable")
    client.create_table(target, timeout=30)
    client.query(
        f"INSERT INTO `{stable}` (document_id, submission_timestamp, client_info) VALUES "
        "('stale', TIMESTAMP '2026-11-28 09:00:00', STRUCT('kept')), "
        "('earlier', TIMESTAMP '2026-11-27 09:00:00', STRUCT('kept'))"
    ).result()
    # error rows in a table made without partitioning (by hand, say): their old rows are deleted instead
    errors = bigquery.Table(
        f"{PROJECT}.payload_bytes_error.structured", schema=[bigquery.SchemaField.from_api_repr(f) for f in ERROR_FIELDS]
    )
    client.create_dataset(f"{PROJECT}.payload_bytes_error", exists_ok=True)
    client.create_table(errors)
    now = dt.datetime.now(dt.timezone.utc)
    for age in (20, 1):
        client.query(
            f"INSERT INTO `{PROJECT}.payload_bytes_error.structured` (submission_timestamp, error_type) "
            f"VALUES (TIMESTAMP '{(now - dt.timedelta(days=age)).isoformat()}', 'old{age}')"
        ).result()
    sql = tmp_path / "sql" / "pingpipe_demo_derived" / "hello_daily_v1"
    sql.mkdir(parents=True)
    (sql / "query.sql").write_text(DAILY_SQL)
    env = bqemulator.env()
    command = [
        PINGPIPE,
        "cycle",
        "--warehouse",
        f"bigquery:{PROJECT}",
        "--date",
        str(DAY),
        "--schemas",
        str(registry_keeping_hello(tmp_path, 30)),
        "--sql",
        str(tmp_path / "sql"),
    ]

    def day_rows():
        return sorted(r[0] for r in client.query(f"SELECT document_id FROM `{stable}`").result())

    for run in range(2):  # a rerun of the same day gives the same tables
        out = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "pingpipe_demo_derived.hello_daily_v1: 1 row(s)" in out.stdout, out.stdout
        assert day_rows() == ["a", "earlier"]  # the day replaced: first copy kept, stale row gone, another day left
        assert [r[0] for r in client.query(f"SELECT document_id FROM `{stable}` WHERE document_id = 'a'").result()] == ["a"]
        first = next(iter(client.query(f"SELECT submission_timestamp FROM `{stable}` WHERE document_id = 'a'").result()))[0]
        assert first == dt.datetime(2026, 11, 28, 10, tzinfo=dt.timezone.utc)
        if run == 0:
            assert "pingpipe_demo_stable.hello_v1: partitions now expire after 30 day(s)" in out.stdout, out.stdout
            assert "pingpipe_demo_live.hello_v1: deleted 1 row(s)" in out.stdout, out.stdout
            assert "payload_bytes_error.structured: expired 1 row(s)" in out.stdout, out.stdout
        else:
            assert "partitions now expire" not in out.stdout  # already set
    live = sorted(r[0] for r in client.query(f"SELECT client_info.client_id FROM `{PROJECT}.{hello}`").result())
    assert live == ["kept", "kept", "kept"]  # the deleted client's ping is shredded from live; its request stays
    for table in (str(hello), "pingpipe_demo_stable.hello_v1"):
        assert client.get_table(f"{PROJECT}.{table}").time_partitioning.expiration_ms == 30 * 86_400_000, table
    kinds = sorted(r[0] for r in client.query(f"SELECT error_type FROM `{PROJECT}.payload_bytes_error.structured`").result())
    assert kinds == ["old1"]  # 14 days kept
    daily = [
        tuple(r.values())
        for r in client.query(f"SELECT submission_date, pings FROM `{PROJECT}.pingpipe_demo_derived.hello_daily_v1`").result()
    ]
    assert daily == [(DAY, 1)]
    assert sorted(r[0] for r in client.query(f"SELECT document_id FROM `{PROJECT}.pingpipe_demo.hello`").result()) == ["a", "earlier"]


def test_a_live_table_that_gained_columns_widens_its_stable_table_before_the_copy(bqemulator):
    """A schema grew after the stable table was made: a column at the top and a field inside a record.
    The cycle widens the stable table (and remakes the view) before its MERGE, which names every live
    column; a second cycle of the same day gives the same rows."""
    from pingpipe.up import cycle

    client = client_for(bqemulator.endpoint, project="grew")
    writer = BigQueryWriter("grew", client=client, retry_deadline=30)
    hello, stable = TableId("pingpipe_demo_live", "hello_v1"), "grew.pingpipe_demo_stable.hello_v1"
    writer.write({hello: (FIELDS, [ping("old", "2026-11-27T10:00:00Z", "o")])})
    cycle.copy_deduplicate_bigquery(client, "grew", DAY - dt.timedelta(days=1))  # the stable table made with the columns of then
    assert [f.name for f in client.get_table(stable).schema] == ["document_id", "submission_timestamp", "client_info"]
    wider = [
        FIELDS[0],
        FIELDS[1],
        {**FIELDS[2], "fields": [*FIELDS[2]["fields"], {"name": "locale", "type": "STRING", "mode": "NULLABLE"}]},
        {"name": "extra", "type": "STRING", "mode": "NULLABLE"},
    ]
    new = {**ping("new", "2026-11-28T10:00:00Z", "n"), "extra": "x"}
    new["client_info"]["locale"] = "fr"
    BigQueryWriter("grew", client=client, retry_deadline=30).write({hello: (wider, [new])})
    for _ in range(2):
        cycle.run_cycle_bigquery(client, "grew", Registry.load(None), DAY)
        rows = client.query(f"SELECT document_id, client_info.client_id, client_info.locale, extra FROM `{stable}`").result()
        assert sorted(tuple(r.values()) for r in rows) == [("n", "new", "fr", "x"), ("o", "old", None, None)]
    table = client.get_table(stable)
    assert [f.name for f in table.schema] == ["document_id", "submission_timestamp", "client_info", "extra"]
    assert [f.name for f in table.schema[2].fields] == ["client_id", "locale"]
    view = client.query("SELECT document_id, extra FROM `grew.pingpipe_demo.hello` WHERE extra IS NOT NULL").result()
    assert [tuple(r.values()) for r in view] == [("n", "x")]


def test_catch_up_runs_each_day_a_missed_start_left_in_order_then_none(bqemulator):
    """The CronJob's command: the project records each day it cycled (`_pingpipe.cycles`), so starts
    that never happened are made up by the next one, oldest day first; run again, nothing is due."""
    from pingpipe.up import cycle

    client = client_for(bqemulator.endpoint, project="late")
    BigQueryWriter("late", client=client, retry_deadline=30).write(
        {TableId("pingpipe_demo_live", "hello_v1"): (FIELDS, [ping("c", "2026-11-28T10:00:00Z")])}
    )
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    missed = [yesterday - dt.timedelta(days=n) for n in (2, 1, 0)]
    cycle.BigQueryCycle(client, "late").record(yesterday, {})  # makes the table; then, as if three starts were missed:
    client.query(
        f"UPDATE `late._pingpipe.cycles` SET day = '{yesterday - dt.timedelta(days=3)}', "
        f"finished_at = TIMESTAMP '{yesterday - dt.timedelta(days=2)} 01:35:00+00' WHERE TRUE"
    ).result()
    env = bqemulator.env()
    command = [PINGPIPE, "cycle", "--warehouse", "bigquery:late", "--catch-up"]
    caught = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert caught.returncode == 0, caught.stdout + caught.stderr
    assert re.findall(r"daily cycle for (\S+):", caught.stdout) == [str(d) for d in missed]
    assert "_pingpipe" not in caught.stdout  # its bookkeeping is no app's table: not shredded, not expired
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and again.stdout.strip() == f"no day is due: the cycle of {yesterday} has run", again.stdout


def test_the_stable_copy_is_one_query_that_gives_the_same_rows_on_bqemulator_and_duckdb(bqemulator, tmp_path):
    """The template's BigQuery SQL, run as written on BigQuery and transpiled on DuckDB: the same first
    copies of the same UTC day, another day's rows left as they were."""
    from pingpipe.loader.writers.duckdb import DuckDBWriter
    from pingpipe.up import cycle

    client = client_for(bqemulator.endpoint, project="twins")
    duck = DuckDBWriter(tmp_path / "w.duckdb")
    live, stable = TableId("twin_live", "ping_v1"), TableId("twin_stable", "ping_v1")
    wider = [*FIELDS, {"name": "extra", "type": "STRING", "mode": "NULLABLE"}]
    rows = [
        {**ping("x", "2026-11-28T10:00:02Z", "a"), "extra": "second"},
        {**ping("y", "2026-11-28T10:00:01Z", "a"), "extra": "first"},  # received first: kept
        ping("z", "2026-11-28T23:59:59.999999Z", "b"),
        ping("z", "2026-11-29T00:00:00Z", "c"),  # the next day
        ping("z", "2026-11-27T23:59:59Z", "b"),  # b's copy of the day before
    ]
    for writer in (BigQueryWriter("twins", client=client, retry_deadline=30), duck):
        writer.write({stable: (wider, [ping("old", "2026-11-20T10:00:00Z", "o")])})  # an earlier day's copy
        writer.write({live: (wider, rows)})
    for _ in range(2):  # a rerun gives the same day
        assert cycle.copy_deduplicate_bigquery(client, "twins", DAY) == cycle.copy_deduplicate(duck, DAY) == {"twin_stable.ping_v1": 2}
    columns = "document_id, client_info.client_id, extra"
    on_bigquery = sorted(tuple(r.values()) for r in client.query(f"SELECT {columns} FROM `twins.twin.ping`").result())
    on_duckdb = sorted(duck.query(f"SELECT {columns} FROM twin.ping").fetchall())
    assert on_bigquery == on_duckdb == [("a", "y", "first"), ("b", "z", None), ("o", "old", None)]
    duck.close()
