"""An incremental shred: whole tables only for an app with new requests, recent partitions for the
late rows of clients already shredded, and every partition when a full run is due or asked for."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from pingpipe.decoder.core import DecoderConfig
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.privacy.shred import FULL_EVERY_DAYS, LATE_DAYS, Scope, plan, scope, statements
from pingpipe.up import cycle, work
from pingpipe.up.commit import Committer
from tests.up.test_cycle import line, ping

TODAY = dt.datetime.now(dt.timezone.utc).date()
AT = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.timezone.utc)
CLIENT = [
    {"name": "submission_timestamp", "type": "TIMESTAMP"},
    {"name": "client_info", "type": "RECORD", "fields": [{"name": "client_id", "type": "STRING"}]},
]


def test_a_first_run_a_full_run_due_or_asked_scans_everything_and_others_start_late_days_before_the_last_run():
    fresh = {"app"}
    assert scope(AT.date(), (None, None), fresh) == Scope(None, frozenset(fresh))  # never ran
    last_full = AT - dt.timedelta(days=FULL_EVERY_DAYS - 1)
    assert scope(AT.date(), (AT, last_full), fresh) == Scope(AT.date() - dt.timedelta(days=LATE_DAYS), frozenset(fresh))
    assert scope(AT.date() + dt.timedelta(days=1), (AT, last_full), set()).since is None  # four weeks since the last full run
    assert scope(AT.date(), (AT, AT), set(), full=True).since is None


def test_a_scoped_run_filters_by_partition_only_apps_without_new_requests_and_only_tables_with_a_partition_column():
    p = plan(
        {
            ("app_live", "deletion_request_v1"): CLIENT,
            ("app_live", "baseline_v1"): CLIENT,
            ("app_derived", "daily_v1"): [{"name": "submission_date", "type": "DATE"}, *CLIENT[1:]],
            ("app_derived", "undated_v1"): CLIENT[1:],
            ("new_live", "deletion_request_v1"): CLIENT,
            ("new_live", "baseline_v1"): CLIENT,
        }
    )
    since = dt.date(2026, 11, 20)
    where = {table: sql.split(" WHERE ", 1)[1] for table, sql in statements(p, False, within=Scope(since, frozenset({"new"})))}
    assert where["app_live.baseline_v1"].startswith("submission_timestamp >= '2026-11-20T00:00:00.000000Z' AND ")
    assert where["app_derived.daily_v1"].startswith("submission_date >= '2026-11-20' AND ")
    assert where["app_derived.undated_v1"].startswith("client_info.client_id IN")  # nothing to filter by: whole
    assert where["new_live.baseline_v1"].startswith("client_info.client_id IN")  # a new request: its history, whole
    assert statements(p, False) == statements(p, False, within=Scope(None, frozenset()))


def ids_in(writer, table: str) -> list[tuple]:
    return sorted(writer.query(f"SELECT client_info.client_id, CAST(submission_timestamp AS VARCHAR) FROM {table}").fetchall())


def test_late_rows_of_a_shredded_client_go_in_recent_partitions_now_and_in_older_ones_at_the_next_full_run(tmp_path):
    work.init_worker(DecoderConfig())
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    gone, later, kept = (str(uuid.uuid4()) for _ in range(3))
    old, recent = TODAY - dt.timedelta(days=LATE_DAYS + 12), TODAY - dt.timedelta(days=1)

    def arrive(*lines: bytes) -> None:
        path = tmp_path / f"{uuid.uuid4()}.ndjson"
        path.write_bytes(b"".join(lines))
        Committer(writer).commit(work.process_segments([str(path)]), [path])

    live = "pingpipe_demo_live.hello_v1"
    arrive(line("hello", old, ping(gone)), line("hello", recent, ping(kept)), line("deletion-request", recent, ping(gone)))
    first = cycle.shred_warehouse(writer)
    assert first["scope"] == "every partition" and first["rows"] == {live: 1}  # the first run: everything
    arrive(line("hello", old, ping(gone)), line("hello", recent, ping(gone)))  # late rows of the shredded client
    second = cycle.shred_warehouse(writer)
    assert second["scope"].startswith(f"partitions from {TODAY - dt.timedelta(days=LATE_DAYS)}") and second["rows"] == {live: 1}
    assert ids_in(writer, live) == sorted([(gone, f"{old} 10:00:00+00"), (kept, f"{recent} 10:00:00+00")])  # older: not scanned
    assert cycle.shred_warehouse(writer, full=True)["rows"] == {live: 1}  # asked for (or due): every partition
    assert ids_in(writer, live) == [(kept, f"{recent} 10:00:00+00")]
    arrive(line("hello", old, ping(gone)), line("hello", old, ping(later)), line("deletion-request", recent, ping(later)))
    fourth = cycle.shred_warehouse(writer)  # a new request: its app's tables whole, for every id
    assert fourth["rows"] == {live: 2} and ids_in(writer, live) == [(kept, f"{recent} 10:00:00+00")]
    writer.close()


def test_a_rule_whose_column_is_not_a_column_path_is_refused_before_it_reaches_any_sql():
    from pingpipe.privacy.shred import RulesError, parse_rules

    assert parse_rules("- {family: shop, column: profile.account_id}\n", "ids.yaml")[0].column == "profile.account_id"
    with pytest.raises(RulesError, match='entry 0: "x\' OR 1=1 --" is not a column path'):
        parse_rules('- {family: shop, column: "x\' OR 1=1 --"}\n', "ids.yaml")
