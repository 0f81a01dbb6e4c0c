"""A metric page's charts on `pingpipe demo`'s history: every chart's CSV equals the same figures
computed here, in Python, from the table's plain rows (the nearest-rank percentiles, the shares, the
sums), with the minimum client count and the filters applied. The history goes through the real
decoder and loader into a real DuckDB warehouse, as `up` would load it."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import io
import math

import orjson
import pytest

from pingpipe.decoder.core import Decoded, Decoder
from pingpipe.decoder.steps.geo import GeoLookup
from pingpipe.dictionary import catalog, chartdata
from pingpipe.dictionary.charts import ChartConfig, View, literal, metric_charts
from pingpipe.dictionary.pages import Site
from pingpipe.etl.sql import bigquery_to_duckdb
from pingpipe.loader.load import Loader, write_refusing
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import RawMessage
from pingpipe.schemas import definitions
from pingpipe.schemas.registry import Registry
from pingpipe.up.demo import DemoConfig, history
from pingpipe.up.demo_queue import Edge

TODAY = dt.date(2026, 12, 7)
NOW = dt.datetime(2026, 12, 7, 18, tzinfo=dt.timezone.utc)
APP = "apps/pingpipe-demo/metrics"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """28 days of 60 demo clients, decoded and loaded; with an active_users table of known figures."""
    tmp = tmp_path_factory.mktemp("charts")
    registry = Registry.load(None)
    app = definitions.load(registry.root).apps["pingpipe-demo"]
    decoder, edge, loader = Decoder(registry, GeoLookup(None)), Edge(tmp / "queue"), Loader(registry)
    messages = []
    for sub in history(app, DemoConfig(end=TODAY, days=28, clients=60), TODAY):
        result = decoder.decode(RawMessage.from_line(edge.message(sub)))
        if isinstance(result, Decoded):
            messages.append((orjson.dumps(result.payload), result.attributes))
    writer = DuckDBWriter(tmp / "warehouse.duckdb")
    write_refusing(writer, loader.batch(messages))
    writer.con.execute("CREATE SCHEMA pingpipe_demo")
    writer.con.execute(
        "CREATE TABLE pingpipe_demo.active_users "
        "(submission_date DATE, channel VARCHAR, country VARCHAR, dau BIGINT, wau BIGINT, mau BIGINT)"
    )
    for i in range(28):
        day = TODAY - dt.timedelta(days=i)
        for channel, scale in (("release", 3), ("beta", 1)):
            writer.con.execute(
                "INSERT INTO pingpipe_demo.active_users VALUES (?, ?, 'DE', ?, ?, ?)",
                [day, channel, i % 5 * scale, 2 * i * scale, 4 + i * scale],
            )
    yield writer
    writer.close()


@pytest.fixture(scope="module")
def dictionary():
    return catalog.for_registry(Registry.load(None))


def site(warehouse, dictionary, min_clients: int = 5) -> Site:
    queries = chartdata.ChartQueries(chartdata.on_duckdb(warehouse.con))
    return Site(dictionary, charts=queries, chart_config=ChartConfig(min_clients=min_clients), now=lambda: NOW)


def download(site: Site, metric: str, chart: str, **query) -> list[dict]:
    """A chart's CSV, as a user downloads it, each value as the CSV has it (text)."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return download_path(site, f"{APP}/{metric}/chart/{chart}.csv?{qs}")


def download_path(site: Site, path: str) -> list[dict]:
    page = site.render(path)
    assert page.status == 200, page.body
    return list(csv.DictReader(io.StringIO(page.body.decode())))


def plain(warehouse, table: str, column: str) -> list[tuple[dt.date, str, str, object]]:
    """(UTC day, client, channel, value) of every row of `table`: nothing aggregated, nothing filtered."""
    rows = warehouse.con.execute(
        f"SELECT submission_timestamp, client_info.client_id, normalized_channel, {column} FROM {table}"
    ).fetchall()
    return [(ts.astimezone(dt.timezone.utc).date(), client, channel, value) for ts, client, channel, value in rows]


def in_span(rows, days: int = 28, channel: str | None = None):
    first = TODAY - dt.timedelta(days=days - 1)
    return [r for r in rows if first <= r[0] <= TODAY and (channel is None or r[2] == channel)]


def nearest_rank(values: list[int], p: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1]


def by_day(rows) -> dict[dt.date, list]:
    out = collections.defaultdict(list)
    for r in rows:
        out[r[0]].append(r)
    return out


@pytest.mark.parametrize("min_clients, channel", [(5, None), (13, None), (2, "release")])
def test_a_counters_clients_sums_and_means_per_day_equal_an_independent_count(warehouse, dictionary, min_clients, channel):
    rows = in_span(plain(warehouse, "pingpipe_demo_live.metrics_v1", "metrics.counter.demo_launches"), channel=channel)
    expected = {}
    for day, group in by_day([r for r in rows if r[3] is not None]).items():
        clients = len({r[1] for r in group})
        if clients >= min_clients:
            total = sum(r[3] for r in group)
            expected[day.isoformat()] = (str(clients), str(total), repr(total / clients))
    query = {"ping": "metrics"} | ({"channel": channel} if channel else {})
    got = download(site(warehouse, dictionary, min_clients), "demo.launches", "counts", **query)
    assert {r["day"]: (r["clients"], r["total"], r["mean_per_client"]) for r in got} == expected
    assert len(expected) >= 5  # the history has days on both sides of the threshold
    if min_clients == 13:
        assert len(expected) < len(by_day(rows))


def test_a_labeled_counters_sums_and_its_top_labels_shares_of_each_days_sum(warehouse, dictionary):
    rows = [
        (day, client, channel, kv["key"], kv["value"])
        for day, client, channel, labels in in_span(
            plain(warehouse, "pingpipe_demo_live.metrics_v1", "metrics.labeled_counter.demo_button_clicks")
        )
        for kv in labels or []
    ]
    sums = collections.Counter()
    for r in rows:
        sums[r[3]] += r[4]
    top = sorted(sums, key=lambda k: (-sums[k], k))[:5]
    day_total = collections.Counter()
    for r in rows:
        day_total[r[0]] += r[4]
    expected = {}
    cells = collections.defaultdict(list)
    for r in rows:
        if r[3] in top:
            cells[(r[0], r[3])].append(r)
    for (day, label), group in cells.items():
        clients = len({r[1] for r in group})
        if clients >= 5:
            total = sum(r[4] for r in group)
            expected[(day.isoformat(), label)] = (str(clients), str(total), repr(total / day_total[day]))
    got = download(site(warehouse, dictionary), "demo.button_clicks", "labels", ping="metrics")
    assert {(r["day"], r["label"]): (r["clients"], r["total"], r["share"]) for r in got} == expected
    assert expected


def test_a_quantitys_percentiles_are_the_nearest_rank_of_the_days_values(warehouse, dictionary):
    rows = [r for r in in_span(plain(warehouse, "pingpipe_demo_live.metrics_v1", "metrics.quantity.demo_window_width")) if r[3] is not None]
    expected = {
        day.isoformat(): tuple(str(nearest_rank([r[3] for r in group], p)) for p in (5, 50, 95))
        for day, group in by_day(rows).items()
        if len({r[1] for r in group}) >= 5
    }
    got = download(site(warehouse, dictionary), "demo.window_width", "percentiles")
    assert {r["day"]: (r["p5"], r["p50"], r["p95"]) for r in got} == expected
    assert expected


def test_a_distributions_percentiles_and_one_days_histogram_against_anothers(warehouse, dictionary):
    rows = [
        r
        for r in in_span(plain(warehouse, "pingpipe_demo_live.metrics_v1", "metrics.timing_distribution.demo_page_load"))
        if r[3] is not None and r[3]["values"]
    ]
    samples = {
        day: ([int(b["key"]) for r in group for b in r[3]["values"] for _ in range(b["value"])], len({r[1] for r in group}))
        for day, group in by_day(rows).items()
    }
    expected = {d.isoformat(): tuple(str(nearest_rank(s, p)) for p in (5, 50, 95)) for d, (s, clients) in samples.items() if clients >= 5}
    got = download(site(warehouse, dictionary), "demo.page_load", "percentiles")
    assert {r["day"]: (r["p5"], r["p50"], r["p95"]) for r in got} == expected

    day, against = sorted(expected)[-1], sorted(expected)[-8]
    want = {}
    for d in (day, against):
        s = samples[dt.date.fromisoformat(d)][0]
        for bucket, n in collections.Counter(s).items():
            want[(d, str(bucket))] = (str(n), repr(n / len(s)))
    got = download(site(warehouse, dictionary), "demo.page_load", "histogram", day=day, against=against)
    assert {(r["day"], r["bucket"]): (r["samples"], r["share"]) for r in got} == want


@pytest.mark.parametrize(
    "metric, column, as_text",
    [("demo.theme", "metrics.string.demo_theme", str), ("demo.dark_mode", "metrics.boolean.demo_dark_mode", lambda v: str(v).lower())],
)
def test_a_boolean_or_strings_top_values_are_shares_of_the_clients_reporting_it(warehouse, dictionary, metric, column, as_text):
    rows = [(d, c, ch, as_text(v)) for d, c, ch, v in in_span(plain(warehouse, "pingpipe_demo_live.metrics_v1", column)) if v is not None]
    clients_of = collections.defaultdict(set)
    for r in rows:
        clients_of[r[3]].add(r[1])
    top = sorted(clients_of, key=lambda v: (-len(clients_of[v]), v))[:5]
    reporting = {day: {r[1] for r in group} for day, group in by_day(rows).items()}
    expected = {}
    for day, group in by_day(rows).items():
        for value in top:
            clients = {r[1] for r in group if r[3] == value}
            if len(clients) >= 5:
                expected[(day.isoformat(), value)] = (str(len(clients)), repr(len(clients) / len(reporting[day])))
    got = download(site(warehouse, dictionary), metric, "values", ping="metrics")
    assert {(r["day"], r["value"]): (r["clients"], r["share"]) for r in got} == expected
    presence = download(site(warehouse, dictionary), metric, "presence", ping="metrics")
    assert {r["day"]: r["clients"] for r in presence} == {d.isoformat(): str(len(c)) for d, c in reporting.items() if len(c) >= 5}


def test_an_events_counts_per_day_and_its_top_extra_values(warehouse, dictionary):
    events = [
        (day, client, e)
        for day, client, _, recorded in in_span(plain(warehouse, "pingpipe_demo_live.events_v1", "events"))
        for e in recorded or []
        if e["category"] == "demo" and e["name"] == "button_pressed"
    ]
    expected = {
        day.isoformat(): (str(len({c for _, c, _ in group})), str(len(group)))
        for day, group in by_day(events).items()
        if len({c for _, c, _ in group}) >= 5
    }
    got = download(site(warehouse, dictionary), "demo.button_pressed", "events")
    assert {r["day"]: (r["clients"], r["events"]) for r in got} == expected
    pairs = collections.defaultdict(list)
    for _, client, e in events:
        for x in e["extra"] or []:
            if x["key"] == "button":
                pairs[(x["key"], x["value"])].append(client)
    kept = [(k, v) for k, v in pairs.items() if len(set(v)) >= 5]
    want = [(k[0], k[1], str(len(v)), str(len(set(v)))) for k, v in sorted(kept, key=lambda kv: (-len(kv[1]), kv[0]))][:5]
    got = download(site(warehouse, dictionary), "demo.button_pressed", "extras")
    assert [(r["extra_key"], r["extra_value"], r["events"], r["clients"]) for r in got] == want


def test_the_app_page_shows_dau_wau_and_mau_with_each_figure_under_the_minimum_left_out(warehouse, dictionary):
    page = site(warehouse, dictionary).render("apps/pingpipe-demo/?channel=release")
    body = page.body.decode()
    assert page.status == 200 and "Active users" in body and '<svg class="chart"' in body
    sql = body.split('<pre class="sql"><code>')[1].split("</code>")[0].replace("&#39;", "'").replace("&gt;", ">").replace("&lt;", "<")
    got = warehouse.con.execute(bigquery_to_duckdb(sql)).fetchall()
    downloaded = download_path(site(warehouse, dictionary), "apps/pingpipe-demo/chart/active_users.csv?channel=release")
    assert [(r["day"], r["dau"], r["wau"], r["mau"]) for r in downloaded] == [
        (d.isoformat(), *("" if v is None else str(v) for v in vs)) for d, *vs in got
    ]
    want = []
    for i in reversed(range(28)):
        dau, wau, mau = i % 5 * 3, 2 * i * 3, 4 + i * 3
        if mau >= 5:
            want.append((TODAY - dt.timedelta(days=i), *(v if v >= 5 else None for v in (dau, wau, mau))))
    assert got == want


def test_a_metric_page_draws_its_charts_each_with_its_sql_and_downloads(warehouse, dictionary):
    body = site(warehouse, dictionary).render(f"{APP}/demo.page_load/?days=90").body.decode()
    assert body.count('<svg class="chart"') == 3  # clients, percentiles, histogram
    assert body.count("View SQL") == 3 and "chart/histogram.csv?days=90&amp;ping=metrics" in body
    assert "could not be read" not in body and "No rows yet" not in body
    document = orjson.loads(site(warehouse, dictionary).render(f"{APP}/demo.page_load/chart/percentiles.json?days=90").body)
    assert document["chart"] == "percentiles" and document["sql"].startswith("/* Percentiles: demo.page_load")
    assert document["rows"] and set(document["rows"][0]) == {"day", "clients", "last_received", "p5", "p50", "p95"}


def test_a_filter_value_the_table_does_not_hold_is_not_written_into_the_query(warehouse, dictionary):
    plain_sql = orjson.loads(site(warehouse, dictionary).render(f"{APP}/demo.launches/chart/counts.json").body)["sql"]
    odd = orjson.loads(site(warehouse, dictionary).render(f"{APP}/demo.launches/chart/counts.json?channel=x%27%20OR%201%3D1").body)["sql"]
    assert odd == plain_sql
    assert site(warehouse, dictionary).render(f"{APP}/demo.launches/chart/nope.csv").status == 404


def test_every_chart_is_bigquery_sql_that_runs_as_is(dictionary):
    """Each metric type's charts parse as BigQuery and transpile for DuckDB; a literal survives any text."""
    view = View(TODAY, channel="it's \\ odd", version="1.0 */ SELECT 1\n")
    app = dictionary.apps["pingpipe-demo"]
    kinds = set()
    for metric in app.metrics.values():
        for column in metric.columns[:1]:
            for chart in metric_charts(metric, column, view, errors=("invalid_value", "invalid_label")):
                assert "'it\\'s \\\\ odd'" in chart.sql and "'1.0 */ SELECT 1\\n'" in chart.sql
                assert chart.sql.index("version 1.0 * / SELECT 1.") < chart.sql.index("*/")  # the comment ends where it should
                bigquery_to_duckdb(chart.sql)
                kinds.add(chart.key)
    assert kinds == {"presence", "counts", "labels", "percentiles", "histogram", "values", "events", "extras", "errors"}
    assert literal("a'b\\c\n") == "'a\\'b\\\\c\\n'"


def test_a_charts_rows_are_kept_and_read_again_in_the_background_once_older_than_the_cache_period():
    calls, now = [], [0.0]

    def execute(sql):
        calls.append(sql)
        return ["n"], [[len(calls)]]

    queries = chartdata.ChartQueries(execute, ChartConfig(cache_seconds=60), clock=lambda: now[0], submit=lambda read: read())
    chart = metric_charts(*demo_metric("demo.theme"), View(TODAY))[1]  # top values: over the span, not per day
    assert queries.chart(chart)["rows"] == [[1]]
    now[0] = 59
    assert queries.chart(chart)["rows"] == [[1]]
    now[0] = 61
    assert queries.chart(chart)["rows"] == [[1]]  # what was kept, while it is read again for the next open
    assert queries.chart(chart)["rows"] == [[2]] and len(calls) == 2


def test_a_per_day_charts_days_before_today_are_read_once_while_their_rows_are_unchanged_and_today_each_time(warehouse, dictionary):
    read = []
    on_duckdb = chartdata.on_duckdb(warehouse.con)

    def execute(sql):
        read.append(sql)
        return on_duckdb(sql)

    now = [0.0]
    queries = chartdata.ChartQueries(execute, ChartConfig(today_seconds=5), clock=lambda: now[0])
    chart = metric_charts(*demo_metric("demo.launches", dictionary), View(TODAY))[0]
    whole = on_duckdb(chart.sql)
    assert queries.chart(chart)["rows"] == whole[1] and read == [chart.unchanged, chart.before_today, chart.today]
    now[0] = 10
    assert queries.chart(chart)["rows"] == whole[1] and read[3:] == [chart.unchanged, chart.today]
    warehouse.con.execute(
        "DELETE FROM pingpipe_demo_live.metrics_v1 WHERE document_id = "
        "(SELECT min(document_id) FROM pingpipe_demo_live.metrics_v1 WHERE metrics.counter.demo_launches IS NOT NULL "
        "AND submission_timestamp < ?)",
        [dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)],
    )  # as a shred deletes: a day before today changes
    got = queries.chart(chart)["rows"]
    assert read[5:] == [chart.unchanged, chart.before_today] and got == on_duckdb(chart.sql)[1] != whole[1]


def demo_metric(identifier: str, dictionary=None, ping: str = "metrics"):
    d = dictionary or catalog.for_registry(Registry.load(None))
    metric = d.apps["pingpipe-demo"].metrics[identifier]
    return metric, next(c for c in metric.columns if c.ping == ping)


def test_reading_ahead_opens_the_metric_pages_of_big_tables_only(warehouse, dictionary):
    read = []
    on_duckdb = chartdata.on_duckdb(warehouse.con)
    queries = chartdata.ChartQueries(lambda sql: read.append(sql) or on_duckdb(sql))
    ahead = Site(dictionary, charts=queries, now=lambda: NOW)
    assert ahead.prewarm({"pingpipe_demo_live.events_v1": 10}) == 0 and read == []
    opened = ahead.prewarm({"pingpipe_demo_live.events_v1": 10**6})
    events = [
        m for m in dictionary.apps["pingpipe-demo"].metrics.values() if any(c.table == "pingpipe_demo_live.events_v1" for c in m.columns)
    ]
    assert opened == len(events) + 1 and read  # each metric in that table, and the app's page
    before = len(read)
    ahead.render(f"{APP}/demo.button_pressed/")
    events_chart, extras = metric_charts(*demo_metric("demo.button_pressed", dictionary, "events"), View(TODAY))[:2]
    assert events_chart.before_today in read[:before] and events_chart.today in read[:before]
    assert set(read[before:]) == {events_chart.unchanged}  # today's part is kept a few seconds, the days before while unchanged
    assert extras.sql in read[:before] and extras.sql not in read[before:]
