"""Running a chart's query where the data is: DuckDB beside `up` (through the ETL's transpiler), or
BigQuery for a dictionary pointed at a project. The same BigQuery text either way.

What is read is kept, keyed by the query's text (it holds its days, so a new day is a new key):
- a per_day chart (charts.yaml) is read in two parts: its days before today, kept while their
  table's rows before today are the same (a count and the latest time, read each time, cheaply:
  a shred, a replay or a late commit changes them), and today, read again after `today_seconds`;
- any other chart is served from what was kept and, once that is older than `cache_seconds`, read
  again in the background for the next person (the page says when its figures were read).
So a page opened again costs no scan of the days before today, and today's pings show within seconds.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import orjson

from pingpipe.etl.sql import bigquery_to_duckdb
from pingpipe.loader.writers.duckdb import cursor as duckdb_cursor

from .charts import CHARTS, Chart, ChartConfig

Result = dict  # {"columns": [...], "rows": [[...], ...], "read_at": datetime}
MAX_KEPT = 2048  # results kept, the least recently used dropped first


class ChartQueries:
    """A chart's rows through `execute` (BigQuery SQL in, columns and rows out), kept as above.
    `submit` runs a background read (a thread of its own by default)."""

    def __init__(
        self,
        execute: Callable[[str], tuple[list[str], list[list]]],
        config: ChartConfig = CHARTS,
        clock: Callable[[], float] = time.monotonic,
        submit: Callable[[Callable[[], None]], object] | None = None,
    ):
        self.execute = execute
        self.config = config
        self.clock = clock
        self._submit = submit
        self._kept: collections.OrderedDict[object, tuple[float, Result]] = collections.OrderedDict()
        self._reading: set[str] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def cache_seconds(self) -> float:
        return self.config.cache_seconds

    def run(self, sql: str, keep: float | None = None) -> Result:
        """The rows of `sql`, read at most `keep` seconds ago (default: cache_seconds)."""
        keep = self.config.cache_seconds if keep is None else keep
        kept = self._get(sql)
        if kept is not None and self.clock() - kept[0] < keep:
            return kept[1]
        return self._read(sql, sql)

    def chart(self, chart: Chart) -> Result:
        if chart.before_today is not None:
            _, token = self.execute(chart.unchanged)
            key = (chart.before_today, repr(token))
            kept = self._get(key)
            before = kept[1] if kept is not None else self._read(key, chart.before_today)
            today = self.run(chart.today, keep=self.config.today_seconds)
            return {"columns": today["columns"], "rows": before["rows"] + today["rows"], "read_at": today["read_at"]}
        kept = self._get(chart.sql)
        if kept is None:
            return self._read(chart.sql, chart.sql)
        if self.clock() - kept[0] >= self.config.cache_seconds:
            self._again(chart.sql)
        return kept[1]

    def _get(self, key) -> tuple[float, Result] | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
            return kept

    def _read(self, key, sql: str) -> Result:
        now = self.clock()
        columns, rows = self.execute(sql)
        result = {"columns": columns, "rows": rows, "read_at": dt.datetime.now(dt.timezone.utc)}
        with self._lock:
            self._kept[key] = (now, result)
            self._kept.move_to_end(key)
            while len(self._kept) > MAX_KEPT:
                self._kept.popitem(last=False)
        return result

    def _again(self, sql: str) -> None:
        """Read `sql` again in the background, once at a time."""
        with self._lock:
            if sql in self._reading:
                return
            self._reading.add(sql)

        def read() -> None:
            try:
                self._read(sql, sql)
            except Exception:  # noqa: BLE001 - what was kept stays; the next open tries again
                pass
            finally:
                with self._lock:
                    self._reading.discard(sql)

        if self._submit is not None:
            self._submit(read)
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="charts-again")
        self._pool.submit(read)


def on_duckdb(con) -> Callable[[str], tuple[list[str], list[list]]]:
    """Run BigQuery SQL on a DuckDB warehouse: transpiled as the ETL's queries are, read in a
    read-only snapshot on a cursor of its own, beside `up`'s writer."""

    def execute(sql: str) -> tuple[list[str], list[list]]:
        text = bigquery_to_duckdb(sql)
        cursor = duckdb_cursor(con)
        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            try:
                found = cursor.execute(text)
                return [d[0] for d in found.description], [list(r) for r in found.fetchall()]
            finally:
                cursor.execute("ROLLBACK")
        finally:
            cursor.close()

    return execute


def on_bigquery(client) -> Callable[[str], tuple[list[str], list[list]]]:
    """Run the same text on BigQuery with a google.cloud.bigquery client (its default project)."""

    def execute(sql: str) -> tuple[list[str], list[list]]:
        rows = client.query(sql).result()
        columns = [f.name for f in rows.schema]
        return columns, [list(r.values()) for r in rows]

    return execute


def as_csv(result: Result) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result["columns"])
    writer.writerows(["" if v is None else v for v in row] for row in result["rows"])
    return out.getvalue().encode("utf-8")


def as_json(chart, result: Result) -> bytes:
    rows = [dict(zip(result["columns"], row, strict=True)) for row in result["rows"]]
    return orjson.dumps({"chart": chart.key, "title": chart.title, "sql": chart.sql, "rows": rows}, option=orjson.OPT_INDENT_2)
