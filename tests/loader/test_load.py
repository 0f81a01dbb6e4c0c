"""A load run again: rows the warehouse held before the run are skipped, each copy once."""

from __future__ import annotations

from pingpipe.loader.load import Batch, LoadedBefore, drop_loaded, error_row, write_refusing
from pingpipe.loader.tables import ERROR_FIELDS, TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter

ERRORS = TableId("payload_bytes_error", "structured")
ATTRIBUTES = {
    "uri": "/submit/app/ping/1/d1",
    "document_id": "d1",
    "error_type": "ParsePayload",
    "error_message": "bad",
    "submission_timestamp": "2026-11-23T10:00:00.000000Z",
}


def batch_of(copies: int) -> Batch:
    """`copies` identical error rows: one bad body a client sent that many times."""
    batch = Batch()
    for _ in range(copies):
        batch.add(ERRORS, ERROR_FIELDS, error_row(b"{not json", ATTRIBUTES))
    batch.counts["errors"] = copies
    return batch


def load_run(writer: DuckDBWriter, *batches: Batch) -> tuple[int, int]:
    """One run over these batches, written one by one: (error rows loaded, skipped)."""
    before, loaded, skipped = LoadedBefore(writer.loaded), 0, 0
    for batch in batches:
        skipped += drop_loaded(batch, before)
        writer.write(batch.tables)
        loaded += batch.counts["errors"]
    return loaded, skipped


def test_identical_rows_of_one_run_all_load_and_a_rerun_skips_each_once(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    assert load_run(writer, batch_of(3), batch_of(2)) == (5, 0)  # across batches too: the table grew during the run
    assert load_run(writer, batch_of(3), batch_of(2)) == (0, 5)  # the same input again
    assert load_run(writer, batch_of(7)) == (2, 5)  # a run that had died after 5 of 7
    (count,) = writer.query("SELECT count(*) FROM payload_bytes_error.structured").fetchone()
    assert count == 7
    writer.close()


def test_a_batch_its_warehouse_refuses_loads_but_the_refused_row_which_becomes_an_error_row(tmp_path):
    """The Beam sink's and `load`'s path (the committer probes alike): no refused row stops a load."""
    fields = [{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}, {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"}]
    table = TableId("x_live", "p_v1")
    batch = Batch()
    for doc, ts in (("a", "2026-11-23T10:00:00Z"), ("b", "2026-13-45T99:00:00Z"), ("c", "2026-11-23T11:00:00Z")):
        batch.add(table, fields, {"document_id": doc, "ts": ts})
    batch.counts["rows"] = 3
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    try:
        assert write_refusing(writer, batch) == 3
        assert writer.query("SELECT document_id FROM x_live.p_v1 ORDER BY 1").fetchall() == [("a",), ("c",)]
        error_type, message = writer.query("SELECT error_type, error_message FROM payload_bytes_error.structured").fetchone()
        assert error_type == "Load" and "the warehouse refused the row for x_live.p_v1" in message
        assert (batch.counts["rows"], batch.counts["errors"]) == (2, 1)
    finally:
        writer.close()


def test_past_its_bound_a_services_new_log_tables_are_error_rows_on_the_load_path_too(tmp_path):
    """The bound `up` keeps (logs/records.py) holds for `load` and the Beam sink: the first tables in name order are made."""
    from pingpipe.logs import records as log_records

    fields = log_records.fields_for(None)
    batch = Batch()
    for type_ in ("one", "two", "three"):
        batch.add(log_records.table_of("svc", type_), fields, {"submission_timestamp": "2026-11-23T10:00:00Z", "document_id": type_})
    batch.counts["rows"] = 3
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    try:
        write_refusing(writer, batch, max_log_tables=2)
        assert sorted(t.table for t in writer.tables() if t.dataset == "svc_logs_live") == ["one", "three"]
        (message,) = writer.query("SELECT error_message FROM payload_bytes_error.structured").fetchone()
        assert "svc_logs_live.two" in message and "2 log tables, the most it may make" in message
        assert (batch.counts["rows"], batch.counts["errors"]) == (2, 1)
    finally:
        writer.close()
