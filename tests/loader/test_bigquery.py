"""The BigQuery writer with the official client: against the real bqemulator where it works, and
against a fake REST server (bigquery_servers.FakeBigQuery) for per-row rejections and refused DML,
which bqemulator gets wrong or cannot cause (see the bqemulator notes in shared/README.md)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid

import pytest

from pingpipe.loader.load import Loader
from pingpipe.loader.tables import ERROR_FIELDS, TableId
from pingpipe.loader.writers.bigquery import BigQueryWriter, ensure_dataset
from pingpipe.message import RawMessage
from pingpipe.privacy.shred import LATE_DAYS
from pingpipe.schemas.registry import Registry
from tests.helpers import PINGPIPE

from ..fixtures import decoded_messages
from .bigquery_servers import FakeBigQuery, client_for

HGPUSH = TableId("eng_workflow_live", "hgpush_v1")


@pytest.fixture
def fake():
    server = FakeBigQuery()
    yield server
    server.close()


def loaded(schemas, geoip_db, writer):
    registry = Registry.load(schemas)
    batch = Loader(registry).batch(decoded_messages(schemas, geoip_db))
    return batch, writer.write(batch.tables)


@pytest.mark.external
def test_decoded_pings_round_trip_through_bqemulator(schemas, geoip_db, bqemulator):
    client = client_for(bqemulator.endpoint)
    writer = BigQueryWriter("test", client=client, registry=Registry.load(schemas), retry_deadline=30)
    batch, written = loaded(schemas, geoip_db, writer)
    assert written == sum(len(rows) for _, rows in batch.tables.values())
    table = client.get_table("test.org_demo_app_live.baseline_v1")
    assert table.time_partitioning.type_ == "DAY" and table.time_partitioning.field == "submission_timestamp"
    assert table.clustering_fields == ["normalized_channel", "sample_id"]
    assert {f.name for f in table.schema} >= {"client_info", "metrics", "metadata", "document_id", "additional_properties"}
    rows = list(
        client.query(
            "SELECT client_info.client_id AS client_id, metadata.geo.country AS country, sample_id "
            "FROM `test.org_demo_app_live.baseline_v1`"
        ).result()
    )
    assert rows and all(r["country"] == "GB" and 0 <= r["sample_id"] <= 99 and r["client_id"] for r in rows)
    events = list(
        client.query(
            "SELECT e.category AS category, e.name AS name FROM `test.org_demo_app_live.events_v1` AS t, UNNEST(t.events) AS e"
        ).result()
    )
    assert events and all(r["name"] for r in events)
    hgpush = client.get_table(f"test.{HGPUSH.dataset}.{HGPUSH.table}")
    expected = Registry.load(schemas).get("eng-workflow", "hgpush", 1).metadata.get("expiration_policy")
    days = (expected or {}).get("delete_after_days")
    assert hgpush.time_partitioning.expiration_ms == (days * 86_400_000 if days else None)
    errors = list(client.query("SELECT error_type, count(*) AS n FROM `test.payload_bytes_error.structured` GROUP BY 1").result())
    assert {r["error_type"] for r in errors} == {"ParsePayload"}  # the validation documents named .fail.


@pytest.mark.external
def test_load_command_writes_to_bigquery_through_the_emulator_in_the_location_it_is_given(schemas, geoip_db, bqemulator, tmp_path):
    lines = b"".join(RawMessage(data, attrs).to_line() for data, attrs in decoded_messages(schemas, geoip_db))
    (tmp_path / "decoded.ndjson").write_bytes(lines)
    command = [PINGPIPE, "load", "--input", f"file:{tmp_path}/decoded.ndjson", "--warehouse", "bigquery:cli", "--schemas", str(schemas)]
    env = {k: v for k, v in bqemulator.env().items() if k != "PINGPIPE_BIGQUERY_LOCATION"}
    nowhere = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert nowhere.returncode == 2 and "--bigquery-location" in nowhere.stderr and "Traceback" not in nowhere.stderr, nowhere.stderr
    out = subprocess.run([*command, "--bigquery-location", "EU"], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    client = client_for(bqemulator.endpoint, project="cli")
    assert client.get_dataset("cli.eng_workflow_live").location == "EU"
    n = list(client.query("SELECT count(*) AS n FROM `cli.eng_workflow_live.hgpush_v1`").result())[0]["n"]
    assert n == sum(1 for _, a in decoded_messages(schemas, geoip_db) if a.get("document_type") == "hgpush" and "error_type" not in a)


@pytest.mark.external
def test_a_grown_schema_adds_columns_with_a_schema_update_and_keeps_the_old_ones(bqemulator):
    client = client_for(bqemulator.endpoint, project="grown")
    writer = BigQueryWriter("grown", client=client, retry_deadline=10)
    v1 = [
        {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
        {
            "name": "metrics",
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [
                {"name": "counter", "type": "RECORD", "mode": "NULLABLE", "fields": [{"name": "a", "type": "INTEGER", "mode": "NULLABLE"}]}
            ],
        },
        {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
    ]
    writer.write({HGPUSH: (v1, [{"document_id": "1", "metrics": {"counter": {"a": 1}}}])})
    v2 = [
        v1[0],
        {
            **v1[1],
            "fields": [
                {**v1[1]["fields"][0], "fields": v1[1]["fields"][0]["fields"] + [{"name": "b", "type": "INTEGER", "mode": "NULLABLE"}]}
            ],
        },
        v1[2],
        {"name": "sample_id", "type": "INTEGER", "mode": "NULLABLE"},
    ]
    fresh = BigQueryWriter("grown", client=client, retry_deadline=10)  # a new worker: reads the table
    fresh.write({HGPUSH: (v2, [{"document_id": "2", "metrics": {"counter": {"a": 2, "b": 3}}, "sample_id": 7}])})
    table = client.get_table(f"grown.{HGPUSH}")
    assert [f.name for f in table.schema] == ["document_id", "metrics", "submission_timestamp", "sample_id"]
    assert [f.name for f in table.schema[1].fields[0].fields] == ["a", "b"]
    rows = client.query(f"SELECT document_id, metrics.counter.a, metrics.counter.b, sample_id FROM `grown.{HGPUSH}`").result()
    assert sorted(tuple(r.values()) for r in rows) == [("1", 1, None, None), ("2", 2, 3, 7)]
    assert table.time_partitioning.type_ == "DAY" and table.time_partitioning.field == "submission_timestamp"


def test_every_dataset_pingpipe_makes_keeps_deleted_rows_readable_for_the_shortest_time_bigquery_allows(fake):
    """BigQuery's time travel keeps a deleted row readable for 7 days by default; 48 hours is its minimum.
    bqemulator ignores the setting (it always answers 168), so the request itself is what is checked."""
    client = client_for(fake.endpoint)
    BigQueryWriter("test", client=client, retry_deadline=10).write(
        {HGPUSH: ([{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}], [{"document_id": "1"}])}
    )
    ensure_dataset(client, "test", "eng_workflow_stable")  # dedupe's and etl's datasets, made the same way
    assert {name: int(body.get("maxTimeTravelHours", 168)) for name, body in fake.datasets.items()} == {
        "eng_workflow_live": 48,
        "eng_workflow_stable": 48,
    }


def test_rows_bigquery_rejects_go_to_the_error_table_with_its_message_and_the_rest_load(fake):
    writer = BigQueryWriter("test", client=client_for(fake.endpoint), retry_deadline=10)
    fields = [
        {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
        {"name": "sample_id", "type": "INTEGER", "mode": "NULLABLE"},
        {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {
            "name": "metadata",
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [{"name": "document_namespace", "type": "STRING", "mode": "NULLABLE"}],
        },
    ]
    ids = [str(uuid.uuid4()) for _ in range(3)]
    rows = [
        {"document_id": ids[0], "sample_id": 1},
        {
            "document_id": ids[1],
            "sample_id": "not a number",
            "submission_timestamp": "2026-11-23T10:00:00Z",
            "metadata": {"document_namespace": "eng-workflow"},
        },
        {"document_id": ids[2], "sample_id": 3},
    ]
    assert writer.write({HGPUSH: (fields, rows)}) == 3  # two rows + one error row
    assert [r["document_id"] for r in fake.rows[("eng_workflow_live", "hgpush_v1")]] == [ids[0], ids[2]]
    (error,) = fake.rows[("payload_bytes_error", "structured")]
    assert error["document_id"] == ids[1] and error["error_type"] == "Load"
    assert "Cannot convert value to integer" in error["error_message"] and "sample_id" in error["error_message"]
    assert error["document_namespace"] == "eng-workflow" and error["payload"]
    assert [f["name"] for f in fake.tables[("payload_bytes_error", "structured")]["schema"]["fields"]] == [f["name"] for f in ERROR_FIELDS]
    assert writer.rejected == 1


def test_transient_errors_are_retried_with_back_off_and_rows_land_once(fake):
    writer = BigQueryWriter("test", client=client_for(fake.endpoint), retry_deadline=30)
    fields = [{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}]
    writer.ensure_table(HGPUSH, fields)
    fake.fail_next_inserts = 2
    assert writer.write({HGPUSH: (fields, [{"document_id": "a"}, {"document_id": "b"}])}) == 2
    inserts = [c for c in fake.calls if c[1].endswith("/insertAll")]
    assert len(inserts) == 3 and fake.fail_next_inserts == 0
    assert fake.rows[("eng_workflow_live", "hgpush_v1")] == [{"document_id": "a"}, {"document_id": "b"}]


@pytest.mark.external
def test_shred_deletes_a_deleted_clients_rows_by_dml_on_bqemulator(bqemulator):
    """`pingpipe shred --warehouse bigquery:P` as a user runs it: DML jobs where the data is, no download."""
    client = client_for(bqemulator.endpoint)
    writer = BigQueryWriter("test", client=client, retry_deadline=30)
    fields = [
        {
            "name": "client_info",
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [{"name": "client_id", "type": "STRING", "mode": "NULLABLE"}],
        },
        {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
        {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
    ]

    def rows(*clients):
        return [
            {"client_info": {"client_id": c}, "document_id": str(uuid.uuid4()), "submission_timestamp": "2026-11-28T10:00:00Z"}
            for c in clients
        ]

    writer.write(
        {
            TableId("shredapp_live", "baseline_v1"): (fields, rows("a", "b", "a")),
            TableId("shredapp_stable", "baseline_v1"): (fields, rows("a", "b")),
            TableId("shredapp_live", "deletion_request_v1"): (fields, rows("a")),
        }
    )
    env = bqemulator.env()
    dry = subprocess.run(
        [PINGPIPE, "shred", "--warehouse", "bigquery:test", "--dry-run"], capture_output=True, text=True, timeout=120, env=env
    )
    assert dry.returncode == 0 and "shredapp_live.baseline_v1: would delete 2 row(s)" in dry.stdout, dry.stdout + dry.stderr
    done = subprocess.run([PINGPIPE, "shred", "--warehouse", "bigquery:test"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and "shredapp_stable.baseline_v1: deleted 1 row(s)" in done.stdout, done.stdout + done.stderr

    def clients(table):
        return sorted(r[0] for r in client.query(f"SELECT client_info.client_id FROM `test.{table}`").result())

    assert clients("shredapp_live.baseline_v1") == ["b"] and clients("shredapp_stable.baseline_v1") == ["b"]
    assert clients("shredapp_live.deletion_request_v1") == ["a"]  # the request stays
    # late rows of the shredded client: the next run scans recent partitions only, a full one all of them
    late = rows("a", "a")
    late[1]["submission_timestamp"] = dt.datetime.now(dt.timezone.utc).isoformat()
    writer.write({TableId("shredapp_live", "baseline_v1"): (fields, late)})
    since = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=LATE_DAYS)
    for args, scanned in (([], f"scanned: partitions from {since}"), (["--full"], "scanned: every partition")):
        again = subprocess.run(
            [PINGPIPE, "shred", "--warehouse", "bigquery:test", *args], capture_output=True, text=True, timeout=120, env=env
        )
        assert again.returncode == 0 and "shredapp_live.baseline_v1: deleted 1 row(s)" in again.stdout, again.stdout + again.stderr
        assert scanned in again.stdout, again.stdout
        assert clients("shredapp_live.baseline_v1") == (["a", "b"] if not args else ["b"])  # the row of 2026-11-28 waits for a full run
    recorded = client.query("SELECT client_id FROM `test._pingpipe.shredded` WHERE family = 'shredapp'").result()
    assert [r[0] for r in recorded] == ["a"]  # recorded once, by the first run


@pytest.mark.external
def test_dedupe_copies_a_day_to_the_stable_table_by_jobs_on_bqemulator(bqemulator):
    """`pingpipe dedupe --warehouse bigquery:P`: the day's first copy of each document in the stable
    table and a view over it, by queries where the data is; run again, the same day is replaced."""
    client = client_for(bqemulator.endpoint, project="dedupe")  # its own project: only its table to copy
    writer = BigQueryWriter("dedupe", client=client, retry_deadline=30)
    fields = [
        {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
        {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "n", "type": "INT64", "mode": "NULLABLE"},
    ]
    writer.write(
        {
            TableId("dedupapp_live", "metrics_v1"): (
                fields,
                [
                    {"document_id": "a", "submission_timestamp": "2026-11-28T10:00:00Z", "n": 1},
                    {"document_id": "a", "submission_timestamp": "2026-11-28T11:00:00Z", "n": 2},  # a retry: the later copy
                    {"document_id": "b", "submission_timestamp": "2026-11-28T12:00:00Z", "n": 3},
                    {"document_id": "c", "submission_timestamp": "2026-11-29T01:00:00Z", "n": 4},
                ],
            )
        }
    )  # another day
    env = bqemulator.env()
    for _ in range(2):
        done = subprocess.run(
            [PINGPIPE, "dedupe", "--warehouse", "bigquery:dedupe", "--date", "2026-11-28"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "dedupapp_stable.metrics_v1 2026-11-28: 2 row(s)" in done.stdout
    rows = sorted((r[0], r[1]) for r in client.query("SELECT document_id, n FROM `dedupe.dedupapp_stable.metrics_v1`").result())
    assert rows == [("a", 1), ("b", 3)]
    view = sorted(r[0] for r in client.query("SELECT document_id FROM `dedupe.dedupapp.metrics`").result())
    assert view == ["a", "b"]


def test_a_live_table_whose_newest_rows_bigquery_will_not_touch_yet_is_shredded_next_time(fake):
    """BigQuery refuses DML over rows still in a table's streaming buffer (bqemulator has none): that
    live table is reported deferred, every other table is shredded, and the run does not fail."""
    from pingpipe.privacy.shred import shred_bigquery

    client = client_for(fake.endpoint)
    fields = [
        {
            "name": "client_info",
            "type": "RECORD",
            "mode": "NULLABLE",
            "fields": [{"name": "client_id", "type": "STRING", "mode": "NULLABLE"}],
        }
    ]
    tables = {
        ("shredapp_live", "baseline_v1"): fields,
        ("shredapp_stable", "baseline_v1"): fields,
        ("shredapp_live", "deletion_request_v1"): fields,
    }
    fake.refusals.append(
        (
            r"DELETE FROM `test\.shredapp_live\.baseline_v1`",
            "UPDATE or DELETE statement over table test.shredapp_live.baseline_v1 would affect rows in the "
            "streaming buffer, which is not supported",
        )
    )
    result = shred_bigquery(client, "test", tables)
    assert result["deferred"] == ["shredapp_live.baseline_v1"]
    assert list(result["rows"]) == ["shredapp_stable.baseline_v1"]
    assert [q.split(" WHERE")[0] for q in fake.queries if q.startswith("DELETE")] == [
        "DELETE FROM `test.shredapp_live.baseline_v1`",
        "DELETE FROM `test.shredapp_stable.baseline_v1`",
    ]
    recorded = [q for q in fake.queries if q.startswith("INSERT INTO `test._pingpipe.shredded`")]
    assert recorded == []  # its ids stay new: the next run scans the deferred table whole again
    fake.refusals[:] = [(r"shredapp_stable", "Syntax error: something else")]  # any other refusal is an error
    with pytest.raises(Exception, match="something else"):
        shred_bigquery(client, "test", tables)


def test_every_query_job_carries_pingpipes_labels_and_a_bytes_billed_ceiling(fake, monkeypatch):
    """Through the client every command makes (make_client): a job's own settings (here a day
    parameter, as the cycle's jobs have) merge with the defaults, as BigQuery receives them."""
    from google.cloud import bigquery

    from pingpipe.loader.writers.bigquery import make_client

    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", fake.endpoint)
    day = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("submission_date", "DATE", "2026-12-01")])
    make_client("test").query("DELETE FROM `test.d.t` WHERE DATE(submission_timestamp) = @submission_date", job_config=day)
    monkeypatch.setenv("PINGPIPE_BIGQUERY_MAX_BYTES_BILLED", str(5 << 30))
    make_client("test").query("SELECT 1")
    sent = fake.configurations
    assert [c["labels"] for c in sent] == [{"app": "pingpipe"}] * 2
    assert [c["query"]["maximumBytesBilled"] for c in sent] == [str(1 << 40), str(5 << 30)]
    assert sent[0]["query"]["queryParameters"][0]["name"] == "submission_date"


@pytest.mark.external
def test_a_dataset_is_never_made_without_a_location(bqemulator):
    """BigQuery would put it in the US, and a dataset never moves: the writer refuses, in one line,
    and makes nothing; a dataset that exists needs no location."""
    from pingpipe.loader.writers.bigquery import LocationMissing

    nowhere = client_for(bqemulator.endpoint, project="nowhere", location=None)
    writer = BigQueryWriter("nowhere", client=nowhere, retry_deadline=10)
    with pytest.raises(LocationMissing, match="--bigquery-location or set PINGPIPE_BIGQUERY_LOCATION"):
        writer.write({HGPUSH: ([{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}], [{"document_id": "1"}])})
    assert [d.dataset_id for d in nowhere.list_datasets()] == []
    client_for(bqemulator.endpoint, project="nowhere", location="EU").create_dataset(f"nowhere.{HGPUSH.dataset}")
    writer.write({HGPUSH: ([{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}], [{"document_id": "1"}])})
    assert [tuple(r.values()) for r in nowhere.query(f"SELECT document_id FROM `nowhere.{HGPUSH}`").result()] == [("1",)]


def test_error_rows_the_error_table_refuses_go_to_the_dead_letter_and_the_load_goes_on(fake, tmp_path):
    """The last resort (a fake: bqemulator answers a refused row with a 500 storm, not BigQuery's
    insertErrors). An error table whose `payload` someone made an INTEGER refuses every error row:
    without a dead letter the batch fails (and is retried), with one the rows land there as the JSON
    lines `bq load` takes back, and the pings' own rows are written."""
    from google.cloud import bigquery

    from pingpipe.loader.writers.bigquery import BigQueryConfig

    client = client_for(fake.endpoint)
    client.create_dataset("test.payload_bytes_error")
    client.create_table(bigquery.Table("test.payload_bytes_error.structured", schema=[bigquery.SchemaField("payload", "INTEGER")]))
    fields = [{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}, {"name": "sample_id", "type": "INTEGER", "mode": "NULLABLE"}]
    batch = {HGPUSH: (fields, [{"document_id": "ok", "sample_id": 1}, {"document_id": "bad", "sample_id": "not a number"}])}
    with pytest.raises(RuntimeError, match="no --dead-letter"):
        BigQueryWriter("test", client=client, retry_deadline=10).write(batch)
    letters = tmp_path / "dead"
    writer = BigQueryWriter("test", client=client, retry_deadline=10, config=BigQueryConfig(dead_letter=str(letters)))
    assert writer.write(batch) == 1 and writer.dead_lettered == 1
    assert [r["document_id"] for r in fake.rows[("eng_workflow_live", "hgpush_v1")]] == ["ok", "ok"]  # the first try's, and this one's
    (letter,) = letters.glob("payload_bytes_error/structured/*.ndjson")
    (row,) = [json.loads(line) for line in letter.read_text().splitlines()]
    assert row["document_id"] == "bad" and row["error_type"] == "Load" and set(row) <= {f["name"] for f in ERROR_FIELDS}
