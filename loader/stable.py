"""Stable tables and user-facing views, as bigquery-etl's copy_deduplicate makes them.

For a day, each live table `<family>_live.<table>` is copied into `<family>_stable.<table>`
keeping one row per document_id (the first by submission_timestamp); the view
`<family>.<table without _vN>` reads the stable table. Re-running a day replaces that day.
"""

from __future__ import annotations

import datetime as dt
import re

from pingpipe import utc

from .dayjob import replace_day
from .tables import TableId, quote
from .writers.bigquery import ensure_dataset, project_tables
from .writers.duckdb import DuckDBWriter


def stable_of(live: TableId) -> TableId | None:
    if not live.dataset.endswith("_live"):
        return None
    return TableId(live.dataset[: -len("_live")] + "_stable", live.table)


def view_of(live: TableId) -> TableId:
    return TableId(live.dataset[: -len("_live")], re.sub(r"_v[0-9]+$", "", live.table))


def copy_deduplicate(writer: DuckDBWriter, day: dt.date) -> dict[str, int]:
    """Copy one day of every live table into its stable table, deduplicated; rows kept per table."""
    kept: dict[str, int] = {}
    live_tables = [t for t in writer.tables() if t.dataset.endswith("_live")]
    start, end = utc.bounds(day)
    with writer.transaction() as con:
        for live in live_tables:
            stable = stable_of(live)
            fields = writer.table_fields(live)
            writer.ensure_table(stable, fields)  # created, or grown to the live table's columns
            src, dst = f"{quote(live.dataset)}.{quote(live.table)}", f"{quote(stable.dataset)}.{quote(stable.table)}"
            con.execute(f"DELETE FROM {dst} WHERE submission_timestamp >= ? AND submission_timestamp < ?", [start, end])
            con.execute(
                f"INSERT INTO {dst} BY NAME SELECT * EXCLUDE (_rn) FROM ("
                f"SELECT *, row_number() OVER (PARTITION BY document_id ORDER BY submission_timestamp) AS _rn "
                f"FROM {src} WHERE submission_timestamp >= ? AND submission_timestamp < ?) WHERE _rn = 1",
                [start, end],
            )
            count = con.execute(
                f"SELECT count(*) FROM {dst} WHERE submission_timestamp >= ? AND submission_timestamp < ?", [start, end]
            ).fetchone()[0]
            view = view_of(live)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(view.dataset)}")
            con.execute(f"CREATE OR REPLACE VIEW {quote(view.dataset)}.{quote(view.table)} AS SELECT * FROM {dst}")
            kept[str(stable)] = count
    return kept


def copy_deduplicate_bigquery(client, project: str, day: dt.date) -> dict[str, int]:
    """The same copy on BigQuery, as jobs where the data is (never a download): for each live table
    of the project, the stable table is made like it (partitioning with its expiry, clustering) if
    missing, and its day replaced by one MERGE of each document's first copy (dayjob.py); the view
    reads it. Rows kept per stable table."""
    from google.cloud import bigquery

    start, end = utc.bounds(day)
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
            bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
        ]
    )
    kept: dict[str, int] = {}
    for live in project_tables(client, project):
        if not live.dataset.endswith("_live"):
            continue
        stable, view = stable_of(live), view_of(live)
        source = client.get_table(f"{project}.{live}")
        ensure_dataset(client, project, stable.dataset)
        target = bigquery.Table(f"{project}.{stable}", schema=source.schema)
        target.time_partitioning, target.clustering_fields = source.time_partitioning, source.clustering_fields
        client.create_table(target, exists_ok=True)
        columns = [f.name for f in source.schema]
        names = ", ".join(f"`{c}`" for c in columns)
        first_copies = (
            f"SELECT {names} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY document_id "
            f"ORDER BY submission_timestamp) AS _n FROM `{project}.{live}` "
            f"WHERE submission_timestamp >= @start AND submission_timestamp < @end) WHERE _n = 1"
        )
        kept[str(stable)] = replace_day(
            client,
            f"`{project}.{stable}`",
            columns,
            first_copies,
            "target.submission_timestamp >= @start AND target.submission_timestamp < @end",
            config,
        )
        ensure_dataset(client, project, view.dataset)
        client.query(f"CREATE OR REPLACE VIEW `{project}.{view}` AS SELECT * FROM `{project}.{stable}`").result()
    return kept
