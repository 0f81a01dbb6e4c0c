"""`etl run` for one day: the generated Glean queries over a day of baseline pings, against the same
work written by hand for DuckDB.

    .venv/bin/python benchmarks/bench_etl.py [--rows 1000000] [--clients 100000]

A stable baseline table holds two days of `--rows` pings each from `--clients` clients (channel,
country, OS, version, duration, reason). The first day is run untimed (it gives the second its
last-seen history). Timed, for the second day: the three generated queries and the view, as
`pingpipe etl run` runs them (parsed and transpiled by sqlglot, each in its own transaction,
replacing its day); and, as the same-run baseline, the same three tables computed by hand-written
DuckDB SQL (CREATE TABLE AS, no transpiling, no day replaced). Then the day's stable copy (one row
per document, from a live table of the same pings, a tenth of them sent twice) as the daily cycle
makes it (the template's BigQuery SQL, transpiled; the day replaced), against a hand-written DuckDB
dedupe of the same rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from pingpipe.etl.glean_usage import queries_for
from pingpipe.etl.run import run
from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.up.cycle import copy_deduplicate


def _s(name: str, bq_type: str = "STRING") -> dict:
    return {"name": name, "type": bq_type, "mode": "NULLABLE"}


FIELDS = [
    _s("submission_timestamp", "TIMESTAMP"),
    _s("sample_id", "INT64"),
    _s("normalized_channel"),
    _s("normalized_country_code"),
    _s("normalized_os"),
    _s("normalized_os_version"),
    {
        "name": "client_info",
        "type": "RECORD",
        "mode": "NULLABLE",
        "fields": [_s("client_id"), _s("app_display_version"), _s("locale"), _s("first_run_date")],
    },
    {"name": "ping_info", "type": "RECORD", "mode": "NULLABLE", "fields": [_s("reason")]},
    {
        "name": "metrics",
        "type": "RECORD",
        "mode": "NULLABLE",
        "fields": [
            {
                "name": "timespan",
                "type": "RECORD",
                "mode": "NULLABLE",
                "fields": [
                    {
                        "name": "glean_baseline_duration",
                        "type": "RECORD",
                        "mode": "NULLABLE",
                        "fields": [_s("time_unit"), _s("value", "INT64")],
                    }
                ],
            }
        ],
    },
]
PATHS = {
    "normalized_channel",
    "normalized_country_code",
    "normalized_os",
    "normalized_os_version",
    "client_info.client_id",
    "client_info.app_display_version",
    "client_info.locale",
    "client_info.first_run_date",
    "ping_info.reason",
    "metrics.timespan.glean_baseline_duration.value",
}
DAY1, DAY2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)

HAND = """
CREATE OR REPLACE TABLE hand.daily AS
SELECT CAST(submission_timestamp AS DATE) AS submission_date, client_info.client_id AS client_id, min(sample_id) AS sample_id,
       count(*) AS baseline_pings, count_if(ping_info.reason = 'active') AS sessions,
       sum(CASE WHEN metrics.timespan.glean_baseline_duration.value BETWEEN 0 AND 100000
                THEN metrics.timespan.glean_baseline_duration.value ELSE 0 END) AS durations,
       arg_max(normalized_channel, submission_timestamp) FILTER (normalized_channel IS NOT NULL) AS normalized_channel,
       arg_max(normalized_country_code, submission_timestamp) FILTER (normalized_country_code IS NOT NULL) AS country,
       arg_max(normalized_os, submission_timestamp) FILTER (normalized_os IS NOT NULL) AS normalized_os,
       arg_max(normalized_os_version, submission_timestamp) FILTER (normalized_os_version IS NOT NULL) AS normalized_os_version,
       arg_max(client_info.app_display_version, submission_timestamp) FILTER (client_info.app_display_version IS NOT NULL)
         AS app_display_version,
       arg_max(client_info.locale, submission_timestamp) FILTER (client_info.locale IS NOT NULL) AS locale,
       arg_max(client_info.first_run_date, submission_timestamp) FILTER (client_info.first_run_date IS NOT NULL) AS first_run_date
FROM bench_stable.baseline_v1
WHERE submission_timestamp >= TIMESTAMPTZ '{day} 00:00:00+00' AND submission_timestamp < TIMESTAMPTZ '{day} 00:00:00+00' + INTERVAL 1 DAY
  AND client_info.client_id IS NOT NULL
GROUP BY ALL;
CREATE OR REPLACE TABLE hand.last_seen AS
SELECT DATE '{day}' AS submission_date, coalesce(c.client_id, p.client_id) AS client_id,
       ((coalesce(p.days_seen_bits, 0) << 1) & 268435455) | (c.client_id IS NOT NULL)::BIGINT AS days_seen_bits,
       coalesce(c.sample_id, p.sample_id) AS sample_id, coalesce(c.normalized_channel, p.normalized_channel) AS normalized_channel,
       coalesce(c.country, p.country) AS country, coalesce(c.normalized_os, p.normalized_os) AS normalized_os,
       coalesce(c.normalized_os_version, p.normalized_os_version) AS normalized_os_version,
       coalesce(c.app_display_version, p.app_display_version) AS app_display_version, coalesce(c.locale, p.locale) AS locale,
       coalesce(c.first_run_date, p.first_run_date) AS first_run_date
FROM hand.daily c
FULL JOIN (SELECT * FROM bench_derived.baseline_clients_last_seen_v1
           WHERE submission_date = DATE '{day}' - 1 AND ((days_seen_bits << 1) & 268435455) > 0) p ON c.client_id = p.client_id;
CREATE OR REPLACE TABLE hand.active AS
SELECT submission_date, normalized_channel AS channel, country, count_if(days_seen_bits & 1 > 0) AS dau,
       count_if(days_seen_bits & 127 > 0) AS wau, count_if(days_seen_bits & 268435455 > 0) AS mau
FROM hand.last_seen GROUP BY ALL;
"""


def fill(writer: DuckDBWriter, rows: int, clients: int) -> None:
    writer.ensure_table(TableId("bench_stable", "baseline_v1"), FIELDS)
    for day in (DAY1, DAY2):
        writer.query(f"""
            INSERT INTO bench_stable.baseline_v1 BY NAME
            SELECT TIMESTAMPTZ '{day} 00:00:00+00' + (i % 86400) * INTERVAL 1 SECOND AS submission_timestamp,
                   (i % {clients}) % 100 AS sample_id, ['release', 'beta', 'nightly'][1 + (i % {clients}) % 3] AS normalized_channel,
                   ['GB', 'US', 'SE', 'DE', 'FR'][1 + (i % {clients}) % 5] AS normalized_country_code,
                   'Linux' AS normalized_os, '6.1' AS normalized_os_version,
                   {{'client_id': 'client-' || (i % {clients}), 'app_display_version': '1.' || (i % 7), 'locale': 'en-GB',
                     'first_run_date': '2026-11-01'}} AS client_info,
                   {{'reason': CASE WHEN i % 2 = 0 THEN 'active' ELSE 'inactive' END}} AS ping_info,
                   {{'timespan': {{'glean_baseline_duration': {{'time_unit': 'second', 'value': i % 3600}}}}}} AS metrics
            FROM range({rows}) t(i)""")


def live(writer: DuckDBWriter) -> None:
    """Day 2's pings as a live table, each with a document id, a tenth of them twice (a second later)."""
    writer.ensure_table(TableId("bench_live", "baseline_v1"), [*FIELDS, _s("document_id")])
    writer.query(f"""
        INSERT INTO bench_live.baseline_v1 BY NAME
        SELECT *, 'doc-' || row_number() OVER () AS document_id FROM bench_stable.baseline_v1
        WHERE submission_timestamp::DATE = DATE '{DAY2}'""")
    writer.query("""
        INSERT INTO bench_live.baseline_v1 BY NAME
        SELECT * REPLACE (submission_timestamp + INTERVAL 1 SECOND AS submission_timestamp)
        FROM bench_live.baseline_v1 WHERE hash(document_id) % 10 = 0""")
    writer.query("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="baseline pings per day")
    parser.add_argument("--clients", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-etl-"))
    try:
        writer = DuckDBWriter(work / "w.duckdb", threads=1)  # as `up` runs DuckDB
        fill(writer, args.rows, args.clients)
        queries = queries_for("bench", "baseline_v1", PATHS)
        assert run(writer, queries, DAY1).failed == {}
        writer.query("CHECKPOINT")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; DuckDB 1 thread")
        print(f"{args.rows:,} baseline pings a day from {args.clients:,} clients; timed: day 2")
        t0 = time.perf_counter()
        report = run(writer, queries, DAY2)
        etl = time.perf_counter() - t0
        assert report.failed == {}, report.failed
        writer.query("CREATE SCHEMA hand")
        t0 = time.perf_counter()
        for statement in HAND.format(day=DAY2).split(";"):
            if statement.strip():
                writer.query(statement)
        hand = time.perf_counter() - t0
        check = writer.query(
            f"SELECT sum(dau), sum(wau), sum(mau) FROM bench.active_users WHERE submission_date = DATE '{DAY2}'"
        ).fetchone()
        assert check == writer.query("SELECT sum(dau), sum(wau), sum(mau) FROM hand.active").fetchone(), check
        print(f"  etl run (3 queries + view, sqlglot)      {etl:6.2f} s   rows: {report.ran}")
        print(f"  hand-written DuckDB SQL (baseline)        {hand:6.2f} s   (same DAU/WAU/MAU: {check})")
        live(writer)
        t0 = time.perf_counter()
        kept = copy_deduplicate(writer, DAY2)
        copy = time.perf_counter() - t0
        t0 = time.perf_counter()
        writer.query(
            f"CREATE TABLE hand.stable AS SELECT * FROM bench_live.baseline_v1 WHERE submission_timestamp::DATE = DATE '{DAY2}' "
            "QUALIFY row_number() OVER (PARTITION BY document_id ORDER BY submission_timestamp) = 1"
        )
        hand = time.perf_counter() - t0
        same = writer.query("SELECT count(*) FROM hand.stable").fetchone()[0]
        assert kept == {"bench_stable.baseline_v1": same}, (kept, same)
        print(f"  stable copy (template, sqlglot)           {copy:6.2f} s   rows: {kept}")
        print(f"  hand-written DuckDB dedupe (baseline)     {hand:6.2f} s")
        writer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
