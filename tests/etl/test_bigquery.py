"""One source, two engines: the generated queries, as written, on bqemulator (`pingpipe etl run
--warehouse bigquery:P`) and through sqlglot on DuckDB, over the same stable rows, give the same tables."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest

from pingpipe.etl.glean_usage import queries_for
from pingpipe.etl.run import run
from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.bigquery import BigQueryWriter
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.schemas.registry import Registry
from tests.helpers import PINGPIPE
from tests.loader.bigquery_servers import client_for

pytestmark = pytest.mark.external


def _s(name: str, bq_type: str = "STRING") -> dict:
    return {"name": name, "type": bq_type, "mode": "NULLABLE"}


FIELDS = [
    _s("submission_timestamp", "TIMESTAMP"),
    _s("sample_id", "INT64"),
    _s("normalized_channel"),
    _s("normalized_country_code"),
    {"name": "client_info", "type": "RECORD", "mode": "NULLABLE", "fields": [_s("client_id"), _s("app_display_version")]},
    {"name": "ping_info", "type": "RECORD", "mode": "NULLABLE", "fields": [_s("reason")]},
]
PATHS = {"client_info.client_id", "normalized_channel", "normalized_country_code", "client_info.app_display_version", "ping_info.reason"}
DAYS = [dt.date(2026, 11, 20) + dt.timedelta(days=n) for n in range(9)]
ACTIVE = {"a": {0, 1, 2, 3, 4, 5, 6, 7, 8}, "b": {0, 8}, "c": {1, 2}, "d": {3}}  # client -> day numbers with a ping


def stable_rows() -> list[dict]:
    return [
        {
            "submission_timestamp": f"{DAYS[n]}T10:00:00Z",
            "sample_id": i,
            "normalized_channel": ("release", "beta")[i % 2],
            "normalized_country_code": "GB",
            "client_info": {"client_id": client, "app_display_version": "1"},
            "ping_info": {"reason": "active"},
        }
        for i, (client, days) in enumerate(ACTIVE.items())
        for n in sorted(days)
    ]


def test_the_generated_queries_give_the_same_tables_on_bqemulator_and_duckdb(bqemulator, tmp_path):
    client = client_for(bqemulator.endpoint)
    BigQueryWriter("test", client=client, retry_deadline=30).write({TableId("twin_stable", "baseline_v1"): (FIELDS, stable_rows())})
    duck = DuckDBWriter(tmp_path / "w.duckdb")
    duck.write({TableId("twin_stable", "baseline_v1"): (FIELDS, stable_rows())})
    queries = queries_for("twin", "baseline_v1", PATHS)
    env = bqemulator.env()
    schemas = tmp_path / "no-glean-apps"  # only the pipeline's own schemas: no query is generated
    shutil.copytree(Registry.load().root / "metadata", schemas / "metadata")
    for day in DAYS:
        assert run(duck, queries, day).failed == {}
    sql = tmp_path / "sql"  # the same queries as files, as a user keeps them: the CLI runs them on BigQuery
    from pingpipe.etl.queries import write_dir

    write_dir(queries, sql)
    for day in DAYS:
        out = subprocess.run(
            [PINGPIPE, "etl", "run", "--warehouse", "bigquery:test", "--sql", str(sql), "--date", str(day), "--schemas", str(schemas)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert out.returncode == 0, out.stdout + out.stderr
    for table, columns in (
        ("twin_derived.baseline_clients_daily_v1", "submission_date, client_id, baseline_pings, sessions, normalized_channel, country"),
        ("twin_derived.baseline_clients_last_seen_v1", "submission_date, client_id, days_seen_bits"),
        ("twin.active_users", "submission_date, channel, country, dau, wau, mau"),
    ):
        on_bigquery = sorted(tuple(r.values()) for r in client.query(f"SELECT {columns} FROM `test.{table}`").result())
        on_duckdb = sorted(duck.query(f"SELECT {columns} FROM {table}").fetchall())
        assert on_bigquery == on_duckdb and on_duckdb, table
    bits = dict(
        duck.query(
            f"SELECT client_id, days_seen_bits FROM twin_derived.baseline_clients_last_seen_v1 WHERE submission_date = DATE '{DAYS[-1]}'"
        ).fetchall()
    )
    assert bits == {"a": 0b111111111, "b": 0b100000001, "c": 0b11000000, "d": 0b100000}  # bit n: n days before
    duck.close()


def test_the_bits28_functions_give_the_same_on_bqemulator_as_on_duckdb(bqemulator):
    import duckdb

    from pingpipe.etl.functions import ensure_bigquery, ensure_duckdb
    from pingpipe.etl.sql import bigquery_to_duckdb
    from tests.etl.test_functions import PATTERNS

    client = client_for(bqemulator.endpoint)
    ensure_bigquery(client, "test")
    con = duckdb.connect()
    ensure_duckdb(con)
    calls = [
        f"udf.bits28_days_since_seen({b}) AS since_{i}, udf.bits28_active_in_range({b}, -13, 7) AS week_{i}, "
        f"udf.bits28_retention({b}, DATE '2026-11-28').day_20.active_in_week_1 AS retained_{i}"
        for i, b in enumerate(PATTERNS)
    ]
    sql = f"SELECT {', '.join(calls)}"
    on_bigquery = list(next(iter(client.query(sql).result())).values())
    on_duckdb = list(con.execute(bigquery_to_duckdb(sql)).fetchone())
    assert on_bigquery == on_duckdb and None in on_duckdb and True in on_duckdb and False in on_duckdb
