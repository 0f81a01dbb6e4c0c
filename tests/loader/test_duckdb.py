"""DuckDB round trips: decoded pings in, SQL out; schema evolution; errors; dedupe; conservation."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import duckdb
import pytest

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.loader.load import Loader
from pingpipe.loader.tables import TableId
from pingpipe.loader.writers import duckdb as duckdb_writer
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import RawMessage
from pingpipe.schemas.registry import Registry
from pingpipe.up import cycle

from ..fixtures import GLEAN, VALIDATION, decoded_messages


@pytest.fixture(scope="module")
def loaded(schemas, geoip_db, tmp_path_factory):
    messages = decoded_messages(schemas, geoip_db)
    writer = DuckDBWriter(tmp_path_factory.mktemp("wh") / "warehouse.duckdb")
    batch = Loader(Registry.load(schemas)).batch(messages)
    writer.write(batch.tables)
    return writer, messages, batch


def count(writer, table: str) -> int:
    dataset, name = table.split(".")
    return writer.query(f'SELECT count(*) FROM "{dataset}"."{name}"').fetchone()[0]


def test_conservation_rows_plus_errors_equal_input(loaded):
    writer, messages, batch = loaded
    tables = [f"{d}.{n}" for d, n in writer.query("SELECT dataset, name FROM _pingpipe.tables").fetchall()]
    rows = sum(count(writer, t) for t in tables if not t.startswith("payload_bytes_error"))
    errors = sum(count(writer, t) for t in tables if t.startswith("payload_bytes_error"))
    assert rows + errors == len(messages)
    assert rows == batch.counts["rows"] and errors == batch.counts["errors"]
    fails = len(list(VALIDATION.glob("*/*.fail.json")))
    assert errors == fails == 13


def test_pings_land_in_the_tables_their_schemas_name(loaded):
    writer, _, _ = loaded
    assert count(writer, "eng_workflow_live.hgpush_v1") == 3
    assert count(writer, "news_reader_live.impressions_v1") == 3
    assert count(writer, "news_reader_live.impressions_v2") == 1
    assert count(writer, "org_demo_app_live.baseline_v1") == 2


def test_nested_fields_and_metadata_are_queryable(loaded):
    writer, _, _ = loaded
    row = writer.query(
        "SELECT metadata.geo.country, metadata.geo.city, metadata.user_agent.browser, sample_id, "
        "client_info.os, submission_timestamp FROM org_demo_app_live.metrics_v1"
    ).fetchone()
    assert row[0] == "GB" and row[1] == "London" and row[2] is None
    assert 0 <= row[3] < 100 and row[4] == "Linux"
    assert row[5] == dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.timezone.utc)


def test_unnest_key_value_maps_and_events(loaded):
    writer, _, _ = loaded
    labels = writer.query(
        "SELECT kv.key, kv.value FROM org_demo_app_live.baseline_v1, "
        "UNNEST(metrics.labeled_counter.glean_validation_pings_submitted) AS t(kv)"
    ).fetchall()
    assert ("health", 1) in labels
    events = writer.query("SELECT e.category, e.name FROM org_demo_app_live.events_v1, UNNEST(events) AS t(e)").fetchall()
    body = json.loads((GLEAN / "events.json").read_text())
    assert sorted(events) == sorted((e["category"], e["name"]) for e in body["events"])
    experiments = writer.query("SELECT x.key, x.value.branch FROM news_reader_live.story_events_v1, UNNEST(experiments) AS t(x)").fetchall()
    assert sorted(experiments) == [("bigger-headlines", "treatment"), ("dark-cards", "control")]
    shown = writer.query(
        "SELECT t.id, t.pos FROM news_reader_live.impressions_v1, UNNEST(tiles) AS u(t) WHERE t.pos IS NOT NULL"
    ).fetchall()
    assert sorted(shown) == [(1017, 0), (1017, 0), (2203, 1), (2203, 1)]


def test_no_ip_and_no_raw_user_agent_anywhere(loaded):
    writer, _, _ = loaded
    dump = json.dumps(
        [
            writer.query(f'SELECT * FROM "{d}"."{n}"').fetchall()
            for d, n in writer.query("SELECT dataset, name FROM _pingpipe.tables").fetchall()
        ],
        default=str,
    )
    assert "81.2.69.160" not in dump and "curl/8.0" not in dump


def test_errors_land_in_mozillas_error_tables_with_their_message(loaded):
    writer, _, _ = loaded
    rows = writer.query("SELECT document_namespace, error_type, error_message, payload FROM payload_bytes_error.structured").fetchall()
    assert rows and all(r[1] == "ParsePayload" and r[2] and r[3] for r in rows)


def test_schema_evolution_adds_columns_in_place_and_keeps_old_rows(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    table = TableId("app_live", "ping_v1")
    v1 = [
        {"name": "a", "type": "INT64", "mode": "NULLABLE"},
        {"name": "r", "type": "RECORD", "mode": "NULLABLE", "fields": [{"name": "x", "type": "STRING", "mode": "NULLABLE"}]},
        {"name": "l", "type": "RECORD", "mode": "REPEATED", "fields": [{"name": "k", "type": "STRING", "mode": "NULLABLE"}]},
    ]
    writer.write({table: (v1, [{"a": 1, "r": {"x": "old"}, "l": [{"k": "one"}]}])})
    v2 = [
        v1[0],
        {**v1[1], "fields": v1[1]["fields"] + [{"name": "y", "type": "INT64", "mode": "NULLABLE"}]},
        {**v1[2], "fields": v1[2]["fields"] + [{"name": "z", "type": "BOOL", "mode": "NULLABLE"}]},
        {"name": "b", "type": "STRING", "mode": "NULLABLE"},
    ]
    writer.write({table: (v2, [{"a": 2, "r": {"x": "new", "y": 7}, "l": [{"k": "two", "z": True}], "b": "added"}])})
    rows = writer.query("SELECT a, r, l, b FROM app_live.ping_v1 ORDER BY a").fetchall()
    assert rows == [
        (1, {"x": "old", "y": None}, [{"k": "one", "z": None}], None),
        (2, {"x": "new", "y": 7}, [{"k": "two", "z": True}], "added"),
    ]
    writer.close()
    reopened = DuckDBWriter(tmp_path / "w.duckdb")  # the evolved schema survives a restart
    assert [f["name"] for f in reopened.table_fields(table)] == ["a", "r", "l", "b"]


def test_tables_are_stored_in_row_groups_of_32768_rows(tmp_path):
    """DuckDB's default is 122,880; smaller groups keep `up`'s commits and checkpoints cheap (see the writer)."""
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    table = TableId("app_live", "ping_v1")
    writer.write({table: ([{"name": "a", "type": "INT64", "mode": "NULLABLE"}], [{"a": i} for i in range(40_000)])})
    writer.query("CHECKPOINT")
    (groups,) = writer.query("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('app_live.ping_v1')").fetchone()
    assert groups == 2 == -(-40_000 // duckdb_writer.ROW_GROUP_SIZE)
    writer.close()


def test_writers_of_one_file_in_one_process_share_it_until_the_last_closes(tmp_path):
    """As `duckdb.connect` shares an instance per file: `pingpipe load` reads the counts of the file its sink holds."""
    path = tmp_path / "w.duckdb"
    first, second = DuckDBWriter(path), DuckDBWriter(str(path))
    fields = [{"name": "a", "type": "INT64", "mode": "NULLABLE"}]
    first.write({TableId("app_live", "ping_v1"): (fields, [{"a": 1}])})
    reader = duckdb_writer.cursor(second.con)  # a reader's own connection, as the admin port takes one
    assert reader.execute("SELECT a FROM app_live.ping_v1").fetchall() == [(1,)]
    reader.close()
    first.close()
    assert second.query("SELECT count(*) FROM app_live.ping_v1").fetchone()[0] == 1
    second.close()
    other = duckdb.connect(str(path))  # detached when the last closed: the file is free again
    assert other.execute("SELECT count(*) FROM app_live.ping_v1").fetchone()[0] == 1
    other.close()
    reader = DuckDBWriter(path, read_only=True)
    with pytest.raises(duckdb.ConnectionException, match="read-only in this process"):
        DuckDBWriter(path)  # a writer cannot share a read-only attachment
    reader.close()
    DuckDBWriter(path).close()


def test_a_failed_batch_leaves_nothing_behind(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    good = TableId("app_live", "ok_v1")
    fields = [{"name": "a", "type": "INT64", "mode": "NULLABLE"}]
    with pytest.raises(duckdb.CatalogException):
        writer.write({good: (fields, [{"a": 1}])}, extra_sql=[("SELECT * FROM no_such_table", [])])
    assert writer.table_fields(good) is None
    writer.write({good: (fields, [{"a": 1}])})
    assert writer.query("SELECT count(*) FROM app_live.ok_v1").fetchone()[0] == 1


FULL_DISK = """
import resource, signal, sys
from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
writer = DuckDBWriter(sys.argv[1])
table, fields = TableId("app_live", "t_v1"), [{"name": "x", "type": "STRING", "mode": "NULLABLE"}]
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, hard))  # files stop growing at 4 MiB: a disk that is full
written = 0
for i in range(100):
    try:
        written += writer.write({table: (fields, [{"x": f"{i}-{j}-" + "y" * 1000} for j in range(500)])})
    except Exception as exc:
        print("FAILED", type(exc).__name__, exc)
        break
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # room again
writer.write({table: (fields, [{"x": "after"}])})
print("ROWS", written + 1, writer.query("SELECT count(*) FROM app_live.t_v1").fetchone()[0])
"""


@pytest.mark.system
def test_a_commit_that_fails_on_a_full_disk_reports_the_disk_and_the_writer_goes_on_after(tmp_path):
    """The disk is made full for real: the process may not grow a file past 4 MiB (RLIMIT_FSIZE)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path / "w.duckdb")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    failed = next(line for line in out.stdout.splitlines() if line.startswith("FAILED"))
    assert "File too large" in failed and "cannot rollback" not in failed
    (rows,) = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("ROWS")]
    assert rows[0] == rows[1]  # every committed batch, and nothing of the failed one


def test_a_writers_batch_folder_is_beside_the_warehouse_gone_at_close_and_a_killed_ones_at_the_next_start(tmp_path):
    fields = [{"name": "a", "type": "NUMERIC", "mode": "NULLABLE"}]  # NUMERIC: a table Arrow cannot carry, via NDJSON
    killed = tmp_path / (duckdb_writer.ROWS_PREFIX + "killed")
    killed.mkdir()
    (killed / "app_live.t_v1.ndjson").write_bytes(b'{"a": 1}')  # what a writer killed mid-batch leaves
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    assert not killed.exists()
    writer.write({TableId("app_live", "t_v1"): (fields, [{"a": 1}])})
    assert [p.name for p in tmp_path.glob(duckdb_writer.ROWS_PREFIX + "*")] == [Path(writer.tmp_dir).name]
    writer.close()
    assert not list(tmp_path.glob(duckdb_writer.ROWS_PREFIX + "*"))


def test_a_row_too_large_for_the_sink_goes_to_errors(schemas, tmp_path):
    loader = Loader(Registry.load(schemas), max_row_bytes=1000)
    big = json.dumps({"changesetID": "x" * 2000, "reviewSystemUsed": "r", "repository": "r"}).encode()
    batch = loader.batch(
        [(big, {"document_namespace": "eng-workflow", "document_type": "hgpush", "document_version": "1", "document_id": "d"})]
    )
    assert batch.counts == {"errors": 1}
    [(fields, rows)] = batch.tables.values()
    assert "over the sink" in rows[0]["error_message"]


def test_unknown_schema_on_load_is_an_error_row_not_a_guess(schemas):
    batch = Loader(Registry.load(schemas)).batch([(b"{}", {"document_namespace": "x", "document_type": "y", "document_version": "1"})])
    assert list(batch.tables) == [TableId("payload_bytes_error", "structured")]


def test_timestamps_with_offsets_load_and_a_bad_one_does_not_fail_the_batch(tmp_path):
    fields = [
        {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
        {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "additional_properties", "type": "STRING", "mode": "NULLABLE"},
    ]
    from pingpipe.loader.coerce import Coercer

    coerce = Coercer(fields)
    rows = [
        coerce({"document_id": "a", "submission_timestamp": "2026-11-23T12:00:00+02:00"}),
        coerce({"document_id": "b", "submission_timestamp": "2026-11-23T25:00:00Z"}),
    ]
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    assert writer.write({TableId("x_live", "t_v1"): (fields, rows)}) == 2
    got = writer.query(
        "SELECT document_id, submission_timestamp AT TIME ZONE 'UTC', additional_properties FROM x_live.t_v1 ORDER BY 1"
    ).fetchall()
    assert got[0][:2] == ("a", dt.datetime(2026, 11, 23, 10, 0))
    assert got[1][1] is None and json.loads(got[1][2]) == {"submission_timestamp": "2026-11-23T25:00:00Z"}
    writer.close()


def test_a_ping_to_a_schema_without_pipeline_metadata_keeps_its_id_time_and_metadata(schemas, geoip_db, tmp_path):
    """The generic glean.1 (as MPS publishes it) has no mozPipelineMetadata: its table still gets the pipeline's columns."""
    doc = str(uuid.uuid4())
    message = RawMessage(
        (VALIDATION / "glean/glean.1.baseline.pass.json").read_bytes(),
        {"uri": f"/submit/glean/glean/1/{doc}", "submission_timestamp": "2026-11-23T10:00:00.000000Z", "x_telemetry_agent": "Glean/64"},
    )
    result = Decoder.from_config(DecoderConfig(schemas=schemas, geoip_db=geoip_db)).decode(message)
    assert isinstance(result, Decoded), result
    m = result.to_message()
    batch = Loader(Registry.load(schemas)).batch([(m.data, m.attributes)])
    assert list(batch.tables) == [TableId("glean_live", "glean_v1")]
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    writer.write(batch.tables)
    row = writer.query(
        "SELECT document_id, submission_timestamp, metadata.header.x_telemetry_agent, sample_id, "
        "additional_properties FROM glean_live.glean_v1"
    ).fetchone()
    assert row[0] == doc and row[1] == dt.datetime(2026, 11, 23, 10, tzinfo=dt.timezone.utc) and row[2] == "Glean/64"
    assert 0 <= row[3] < 100
    assert set(json.loads(row[4])) == {"$schema"}  # no column for it; id and time have theirs, metadata is the pipeline's
    assert cycle.copy_deduplicate(writer, dt.date(2026, 11, 23)) == {"glean_stable.glean_v1": 1}


def test_every_writer_is_closed_to_files_and_settings_as_it_opens_yet_appends_arrow_and_ndjson_rows(tmp_path):
    """`etl run`, `cycle`, `shred`, `load` and `up` write through one; users' SQL runs on it."""
    (tmp_path / "secret.txt").write_text("not for queries")
    writer = DuckDBWriter(tmp_path / "w.duckdb", threads=1)
    other = DuckDBWriter(tmp_path / "w.duckdb")  # a second writer in the process shares the instance and its batch folder
    try:
        assert duckdb_writer.locked_down(writer.con) and duckdb_writer.locked_down(other.con)
        assert writer.query("SELECT current_setting('threads')").fetchone() == (1,)  # made before the lock
        for sql in (
            f"SELECT * FROM read_text('{tmp_path / 'secret.txt'}')",
            f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
            "SET threads = 4",
            "SET enable_external_access = true",
        ):
            with pytest.raises(duckdb.Error, match="disabled by configuration|configuration has been locked"):
                writer.query(sql)
        table, fields = TableId("app_live", "ping_v1"), [{"name": "a", "type": "INT64", "mode": "NULLABLE"}]
        assert writer.write({table: (fields, [{"a": 1}])}) == 1  # an Arrow table
        assert writer.write({table: (fields, [b'{"a": 2}'])}) == 1  # serialized rows: read_json from the batch folder
        assert other.write({table: (fields, [b'{"a": 3}'])}) == 1
        assert writer.query("SELECT a FROM app_live.ping_v1 ORDER BY a").fetchall() == [(1,), (2,), (3,)]
    finally:
        other.close()
        writer.close()
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_a_purge_rewrites_the_file_without_a_deleted_rows_bytes_and_keeps_everything_else(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    writer = DuckDBWriter(path)
    marker = "DELETED-" + "x" * 40
    with writer.transaction() as con:
        con.execute("CREATE SCHEMA app_live")
        con.execute("CREATE TABLE app_live.t (id VARCHAR PRIMARY KEY, note VARCHAR)")
        con.execute("INSERT INTO app_live.t SELECT 'row-' || i, 'kept-' || i FROM range(50000) AS r(i)")
        con.execute("INSERT INTO app_live.t VALUES ('gone', ?)", [marker])
        con.execute("CREATE VIEW app_live.v AS SELECT count(*) AS n FROM app_live.t")
    writer.query("CHECKPOINT")
    assert marker.encode() in path.read_bytes()
    with writer.transaction() as con:
        con.execute("DELETE FROM app_live.t WHERE id = 'gone'")
        writer.mark_purge(con, "test")
    writer.query("CHECKPOINT")
    assert marker.encode() in path.read_bytes()  # a DELETE only marks the row
    assert writer.purge_due()
    writer.purge()
    assert marker.encode() not in path.read_bytes() and not writer.purge_due()
    assert writer.query("SELECT n FROM app_live.v").fetchone() == (50000,)  # views, rows, constraints kept
    with pytest.raises(duckdb.ConstraintException):
        writer.query("INSERT INTO app_live.t VALUES ('row-1', 'again')")
    writer.write({TableId("app_live", "u"): ([{"name": "x", "type": "STRING", "mode": "NULLABLE"}], [{"x": "after"}])})
    writer.close()


def test_a_purge_that_was_due_when_the_process_died_is_done_by_the_next_open(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    writer = DuckDBWriter(path)
    writer.query("CREATE TABLE t AS SELECT 'DELETED-' || repeat('y', 40) AS v UNION ALL SELECT 'kept'")
    writer.query("CHECKPOINT")
    with writer.transaction() as con:
        con.execute("DELETE FROM t WHERE v <> 'kept'")
        writer.mark_purge(con, "test")
    writer.close()  # as if killed before the purge: the mark was committed with the deletion
    assert b"DELETED-" in path.read_bytes()
    writer = DuckDBWriter(path)
    assert b"DELETED-" not in path.read_bytes() and not writer.purge_due()
    assert writer.query("SELECT v FROM t").fetchall() == [("kept",)]
    writer.close()


def test_row_counts_are_every_table_of_the_warehouse_in_name_order(tmp_path):
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    try:
        fields = [{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}]
        for table, rows in ((TableId("b_live", "x_v1"), 1), (TableId("a_live", "y_v1"), 3), (TableId("a_live", "x_v1"), 0)):
            writer.ensure_table(table, fields)
            writer.write({table: (fields, [{"document_id": f"d{i}"} for i in range(rows)])})
        assert list(writer.row_counts().items()) == [
            (TableId("a_live", "x_v1"), 0),
            (TableId("a_live", "y_v1"), 3),
            (TableId("b_live", "x_v1"), 1),
        ]
    finally:
        writer.close()
