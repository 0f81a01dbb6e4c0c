"""The committer and the segment worker, in process: dedupe, exactly-once marks, rollback, recovery."""

from __future__ import annotations

import gzip
import uuid

import duckdb
import orjson
import pytest

from pingpipe.decoder.core import DecoderConfig
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.up import work
from pingpipe.up.commit import SEGMENTS, Committer
from tests.fixtures import SCHEMAS
from tests.up.conftest import GOOD, line, segment


@pytest.fixture(scope="module", autouse=True)
def worker_state():
    work.init_worker(DecoderConfig(schemas=SCHEMAS))


def count(writer: DuckDBWriter, table: str) -> int:
    return writer.query(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_worker_turns_every_line_into_a_row_or_an_error_row(tmp_path):
    path = segment(tmp_path, "s1", line(), b"not a raw message\n", line(body=b"{bad"), line(body=gzip.compress(GOOD)), b"\n")
    result = work.process_segments([str(path)])
    assert result.messages == 4  # the blank line is not a message
    (rows,) = result.rows.values()
    assert len(rows) == 2 and rows.data.num_rows == 2  # an Arrow table: the hgpush table has an Arrow schema
    errors = [e for rows in result.errors.values() for e in rows]
    assert len(errors) == 2 and result.counts["error.ParseRawMessage"] == 1 and result.counts["error.ParsePayload"] == 1
    assert all(b"81.2.69.160" not in orjson.dumps(rows.row(i)) for i in range(2)) and all(b"81.2.69.160" not in e for e in errors)


def test_a_row_over_the_sinks_limit_becomes_an_error_row(tmp_path, monkeypatch):
    """The worker serializes only rows of large payloads to check them; the check must still fire for them."""
    loader = work.worker_loader()
    monkeypatch.setattr(loader, "max_row_bytes", 600)
    big = GOOD[:-1] + b', "extra": "' + b"x" * 400 + b'"}'  # the row (metadata included) is over 600 bytes
    path = segment(tmp_path, "s1", line(), line(body=big))
    result = work.process_segments([str(path)])
    assert (result.messages, sum(len(r) for r in result.rows.values()), result.counts["errors"]) == (2, 1, 1)
    (error,) = [e for rows in result.errors.values() for e in rows]
    assert b"over the sink" in error and b'"error_type":"Load"' in error


def test_a_payload_no_coercer_can_take_becomes_an_error_row_and_the_rest_load(tmp_path, monkeypatch):
    """Conservation when coercion itself raises. Real data cannot make it raise (it never fails on
    content), so both coercers are replaced by ones that fail on one marked payload: a fault, not data."""

    def refuses_marked(payloads):
        raise RuntimeError("columns refused")  # the whole batch: the worker falls back to rows, one by one

    monkeypatch.setattr(work, "column_coercer", lambda fields: refuses_marked)
    marked = GOOD[:-1] + b', "mark": 1}'
    loader = work.worker_loader()
    real_target = loader.target

    def target(*key):
        table, fields, coerce = real_target(*key)

        def coerce_or_fail(payload):
            if payload.get("mark"):
                raise RuntimeError("cannot coerce this one")
            return coerce(payload)

        return table, fields, coerce_or_fail

    monkeypatch.setattr(loader, "target", target)
    doc_ids = [str(uuid.uuid4()) for _ in range(3)]
    path = segment(tmp_path, "s1", line(doc_ids[0]), line(doc_ids[1], body=marked), line(doc_ids[2]))
    result = work.process_segments([str(path)])
    (rows,) = result.rows.values()
    assert rows.ids == [doc_ids[0], doc_ids[2]] and len(rows.data) == len(rows.about) == 2
    (error,) = [orjson.loads(e) for errors in result.errors.values() for e in errors]
    assert error["document_id"] == doc_ids[1] and error["error_type"] == "Load" and "cannot coerce" in error["error_message"]
    assert result.messages == len(rows) + result.counts["errors"] == 3


def test_duplicates_within_and_across_commits_become_counted_error_rows(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    first = segment(tmp_path, "s1", line(a), line(a), line(b))
    counts = committer.commit(work.process_segments([str(first)]), [first])
    assert (counts["rows"], counts["duplicates"]) == (2, 1)
    assert not first.exists()
    second = segment(tmp_path, "s2", line(b), line())
    counts = committer.commit(work.process_segments([str(second)]), [second])
    assert (counts["rows"], counts["duplicates"]) == (1, 1)
    assert count(writer, "eng_workflow_live.hgpush_v1") == 3
    assert writer.query("SELECT error_type, count(*) FROM payload_bytes_error.structured GROUP BY 1").fetchall() == [("duplicate", 2)]
    assert writer.query(f"SELECT sum(messages), sum(rows), sum(duplicates) FROM {SEGMENTS}").fetchone() == (5, 3, 2)
    writer.close()
    # The dedupe window survives a restart: it is in the same file, committed with the rows.
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    third = segment(tmp_path, "s3", line(a))
    assert Committer(writer).commit(work.process_segments([str(third)]), [third])["duplicates"] == 1
    writer.close()


def test_a_failed_commit_keeps_nothing_and_leaves_the_segment_for_a_retry(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer)
    doc = str(uuid.uuid4())
    path = segment(tmp_path, "s1", line(doc), line(body=b"{bad"))
    result = work.process_segments([str(path)])
    writer.con.execute("DROP TABLE payload_bytes_error.structured")
    writer.con.execute("CREATE TABLE payload_bytes_error.structured (x INTEGER)")  # error rows cannot go in
    with pytest.raises(duckdb.Error):
        committer.commit(result, [path])
    assert path.exists() and doc not in committer.seen
    assert writer.query(f"SELECT count(*) FROM {SEGMENTS}").fetchone()[0] == 0
    assert (
        writer.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'eng_workflow_live'").fetchone()[0] == 0
    )  # even the table's creation was rolled back
    writer.close()


def test_rows_the_warehouse_refuses_become_error_rows_and_the_rest_commits(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    taken = str(uuid.uuid4())
    first = segment(tmp_path, "s1", line(taken))
    Committer(writer).commit(work.process_segments([str(first)]), [first])
    writer.con.execute("CREATE UNIQUE INDEX one_per_id ON eng_workflow_live.hgpush_v1 (document_id)")
    fresh = Committer(writer, dedupe_window=0.0)  # forgets ids: the index is what refuses the row
    good = [str(uuid.uuid4()) for _ in range(3)]
    second = segment(tmp_path, "s2", line(good[0]), line(taken), line(good[1]), line(good[2]))
    counts = fresh.commit(work.process_segments([str(second)]), [second])
    assert (counts["messages"], counts["rows"], counts["errors"]) == (4, 3, 1)
    ids = {r[0] for r in writer.query("SELECT document_id FROM eng_workflow_live.hgpush_v1").fetchall()}
    assert ids == set(good) | {taken}
    (error,) = writer.query("SELECT document_id, error_type, error_message, payload FROM payload_bytes_error.structured").fetchall()
    assert error[0] == taken and error[1] == "Load" and "refused" in error[2] and "Constraint" in error[2]
    assert b'"document_id":"' + taken.encode() in error[3]  # the refused row itself
    assert not second.exists() and taken not in fresh.seen and set(good) <= set(fresh.seen)
    writer.close()


def test_segments_committed_before_a_crash_are_deleted_not_loaded_again(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    queue = tmp_path / "queue"
    queue.mkdir()
    path = segment(queue, "s1", line(), line())
    result = work.process_segments([str(path)])
    Committer(writer).commit(result, [])  # committed, then "crashed" before deleting the file
    assert path.exists()
    assert Committer(writer).forget_done(queue) == 1
    assert not path.exists() and count(writer, "eng_workflow_live.hgpush_v1") == 2
    writer.close()


def test_segments_that_keep_killing_workers_become_error_rows_without_identifiers(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    path = segment(tmp_path, "s1", line(), line(body=b"{bad"), b"garbage\n")
    result = work.crashed_result([str(path)], "killed 3 times")
    counts = Committer(writer).commit(result, [path])
    assert counts["messages"] == 3 and counts["errors"] == 3 and counts["rows"] == 0
    rows = writer.query("SELECT error_type, error_message, payload FROM payload_bytes_error.structured ORDER BY error_type").fetchall()
    assert [r[0] for r in rows] == ["ParseRawMessage", "WorkerCrashed", "WorkerCrashed"]
    assert "killed 3 times" in rows[1][1] and rows[1][2] in (GOOD, b"{bad")  # the original body, undecoded
    assert not path.exists()
    assert (
        writer.query("SELECT count(*) FROM payload_bytes_error.structured AS t WHERE CAST(t AS VARCHAR) LIKE '%81.2.69.160%'").fetchone()[0]
        == 0
    )
    writer.close()


def test_the_dedupe_memory_is_bounded_by_the_window_and_by_a_count(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer, max_document_ids=3)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    path = segment(tmp_path, "s1", *(line(i) for i in ids))
    committer.commit(work.process_segments([str(path)]), [path])
    assert list(committer.seen) == ids[2:]  # the newest three
    again = segment(tmp_path, "s2", line(ids[4]), line(ids[0]))
    counts = committer.commit(work.process_segments([str(again)]), [again])
    assert (counts["duplicates"], counts["rows"]) == (1, 1)  # ids[0] fell out of memory: loaded again, by design
    assert len(Committer(writer, max_document_ids=3).seen) == 3  # a restart reloads only the newest
    expired = Committer(writer, dedupe_window=0.0)
    assert len(expired.seen) == 0
    writer.close()


def test_one_document_id_in_two_cases_is_one_row_and_one_duplicate(tmp_path):
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    doc = str(uuid.uuid4())
    path = segment(tmp_path, "s1", line(doc.upper()), line(doc))
    counts = Committer(writer).commit(work.process_segments([str(path)]), [path])
    assert (counts["rows"], counts["duplicates"]) == (1, 1)
    assert writer.query("SELECT document_id FROM eng_workflow_live.hgpush_v1").fetchall() == [(doc,)]
    assert writer.query("SELECT document_id FROM payload_bytes_error.structured").fetchall() == [(doc,)]
    writer.close()
