"""The metric charts at scale: the same BigQuery text on bqemulator and on DuckDB gives the same rows,
and `pingpipe dictionary serve --warehouse bigquery:P` serves the pages from BigQuery."""

from __future__ import annotations

import csv
import datetime as dt
import http.client
import io
import subprocess
import urllib.parse

import orjson
import pytest

from pingpipe import utc
from pingpipe.decoder.core import Decoded, Decoder
from pingpipe.decoder.steps.geo import GeoLookup
from pingpipe.dictionary import catalog, chartdata
from pingpipe.dictionary.charts import ChartConfig, View, error_columns, metric_charts
from pingpipe.loader.load import Loader, write_refusing
from pingpipe.loader.writers.bigquery import BigQueryWriter
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import RawMessage
from pingpipe.schemas import definitions
from pingpipe.schemas.registry import Registry
from pingpipe.up.demo import DemoConfig, history
from pingpipe.up.demo_queue import Edge
from tests.helpers import PINGPIPE
from tests.loader.bigquery_servers import client_for

pytestmark = pytest.mark.external
METRICS = ("demo.launches", "demo.theme", "demo.page_load")  # every template: daily, split, histogram, errors


def same(rows: list[list]) -> list[tuple]:
    """Rows as both engines' clients give them, in one form: days and times as text, fractions to 12 digits."""

    def one(v):
        if isinstance(v, dt.datetime):
            return v.astimezone(dt.timezone.utc).isoformat()
        if isinstance(v, dt.date):
            return v.isoformat()
        return round(v, 12) if isinstance(v, float) else v

    return [tuple(one(v) for v in row) for row in rows]


def test_each_chart_gives_the_same_rows_on_bigquery_as_on_duckdb_and_the_served_pages_read_bigquery(tmp_path, bqemulator):
    today = utc.today()
    registry = Registry.load(None)
    app = definitions.load(registry.root).apps["pingpipe-demo"]
    decoder, edge = Decoder(registry, GeoLookup(None)), Edge(tmp_path / "queue")
    messages = []
    for sub in history(app, DemoConfig(end=today, days=7, clients=12, seed=3), today):
        if sub.doctype == "metrics":
            result = decoder.decode(RawMessage.from_line(edge.message(sub)))
            if isinstance(result, Decoded):  # the demo's few refused pings aside
                messages.append((orjson.dumps(result.payload), result.attributes))
    client = client_for(bqemulator.endpoint)
    BigQueryWriter("test", client=client, retry_deadline=30).write(Loader(registry).batch(messages).tables)
    duck = DuckDBWriter(tmp_path / "warehouse.duckdb")
    write_refusing(duck, Loader(registry).batch(messages))

    d = catalog.for_registry(registry)
    config, view = ChartConfig(min_clients=2), View(today)
    on_bigquery, on_duckdb = chartdata.on_bigquery(client), chartdata.on_duckdb(duck.con)
    compared = 0
    for identifier in METRICS:
        metric = d.apps["pingpipe-demo"].metrics[identifier]
        column = next(c for c in metric.columns if c.ping == "metrics")
        errors = error_columns([c.path for c in d.tables[column.table].columns])
        for chart in metric_charts(metric, column, view, config, errors):
            bq_columns, bq_rows = on_bigquery(chart.sql)
            duck_columns, duck_rows = on_duckdb(chart.sql)
            assert bq_columns == duck_columns, chart.key
            assert same(bq_rows) == same(duck_rows), (identifier, chart.key)
            compared += bool(duck_rows)
    assert compared >= 5  # charts with rows, not only empty ones

    serving = subprocess.Popen(
        [PINGPIPE, "dictionary", "serve", "--warehouse", "bigquery:test", "--chart-min-clients", "2"],
        env=bqemulator.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        link = serving.stdout.readline().split(" at ", 1)[1].split()[0]
        url = urllib.parse.urlsplit(link)
        token = urllib.parse.parse_qs(url.query)["token"][0]

        def get(path: str) -> bytes:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
            conn.request("GET", "/" + path, headers={"X-Pingpipe-Token": token})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body
            return body

        page = get("apps/pingpipe-demo/metrics/demo.window_width/").decode()
        assert page.count('<svg class="chart"') == 2 and "BigQuery project <code>test</code>" in page
        assert "Errors</a>" not in page and "Debug pings</a>" not in page  # what only `up` has is not offered
        served = list(csv.reader(io.StringIO(get("apps/pingpipe-demo/metrics/demo.window_width/chart/percentiles.csv").decode())))
        metric = d.apps["pingpipe-demo"].metrics["demo.window_width"]
        chart = metric_charts(metric, next(c for c in metric.columns if c.ping == "metrics"), view, config)[0]
        columns, rows = on_duckdb(chart.sql)
        at = columns.index("last_received")
        assert served[0] == columns and len(served) == len(rows) + 1
        assert [[v for i, v in enumerate(r) if i != at] for r in served[1:]] == [
            [str(v) for i, v in enumerate(r) if i != at] for r in same(rows)
        ]
    finally:
        serving.terminate()
        assert serving.wait(timeout=20) == 0
