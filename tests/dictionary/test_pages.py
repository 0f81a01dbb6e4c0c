"""The dictionary's pages and its static build: every link resolves, nothing is fetched from elsewhere."""

from __future__ import annotations

import datetime as dt
import html.parser
import json
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from pingpipe.dictionary import catalog
from pingpipe.dictionary.debug import DebugConfig, DebugStore, entry
from pingpipe.dictionary.figures import Figures
from pingpipe.dictionary.pages import Site
from pingpipe.schemas.registry import Registry
from tests.helpers import PINGPIPE


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def links_of(body: bytes) -> list[str]:
    parser = Links()
    parser.feed(body.decode("utf-8"))
    return parser.links


def error_table():
    """A DuckDB warehouse in memory, in UTC, with Mozilla's structured error table."""
    import duckdb

    from pingpipe.loader.tables import ERROR_FIELDS, duckdb_type

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA payload_bytes_error")
    columns = ", ".join(f"{f['name']} {duckdb_type(f)}" for f in ERROR_FIELDS)
    con.execute(f"CREATE TABLE payload_bytes_error.structured ({columns})")
    return con


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([PINGPIPE, "dictionary", "build", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    return out


@pytest.mark.system
def test_every_internal_link_of_the_static_build_resolves(built):
    """Crawl from index.html, following every relative link; nothing points outside but http(s) references."""
    seen, todo, external = set(), [built / "index.html"], set()
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        if page.suffix != ".html":
            continue
        for link in links_of(page.read_bytes()):
            parts = urllib.parse.urlsplit(link)
            if parts.scheme:
                external.add(link)
                continue
            target = (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if link.endswith("/"):
                target = target / "index.html"
            assert target.is_file(), f"{page.relative_to(built)} links to {link}, which is not in the build"
            todo.append(target)
    assert len(seen) > 100
    assert (built / "apps/pingpipe-demo/metrics/demo.launches/index.html") in seen
    assert all(u.startswith("https://") for u in external)  # data reviews and bugs: links, never loaded
    assert not any(u.endswith((".js", ".css", ".woff", ".woff2")) for u in external)


@pytest.mark.system
def test_a_static_build_carries_no_warehouse_figures_and_no_debug_viewer(built):
    index = (built / "index.html").read_text()
    assert "without warehouse figures" in index and "debug/" not in index
    assert not (built / "debug").exists()


@pytest.fixture(scope="module")
def dictionary():
    return catalog.for_registry(Registry.load())


def test_unknown_pages_are_404_with_a_way_back(dictionary):
    page = Site(dictionary).render("/apps/nope/")
    assert page.status == 404 and b"no app nope" in page.body
    assert Site(dictionary).render("/debug/").status == 404  # only `up` has a debug viewer


def test_text_from_definitions_and_pings_is_escaped(dictionary):
    store = DebugStore()
    store.add(
        [
            entry(
                {"x_debug_id": "t", "document_id": "d", "submission_timestamp": "2026-11-29T10:00:00Z"},
                {"note": "<script>alert(1)</script>"},
            )
        ]
    )
    body = Site(dictionary, figures=lambda tables: {}, debug=store).render("/debug/t/").body.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_live_pages_show_rows_and_a_sparkline_of_rows_per_day(dictionary):
    days = [(str(dt.date(2026, 11, 1) + dt.timedelta(days=i)), i % 3) for i in range(30)]
    figures = Figures(True, rows=29, last_received="2026-11-30 10:00:00", per_day=days)
    site = Site(dictionary, figures=lambda tables: {t: figures for t in tables}, debug=DebugStore())
    body = site.render("/tables/pingpipe_demo_live.hello_v1/").body.decode()
    assert '<dd class="rows">29</dd>' in body and '<svg class="spark"' in body
    assert body.count("<rect") == sum(1 for _, n in days if n)
    assert b"Debug pings" in site.render("/").body


def test_the_debug_pages_state_the_bounds_and_say_how_many_pings_were_evicted(dictionary):
    store = DebugStore(DebugConfig(max_bytes=512 * 1024, max_tags=2))
    site = Site(dictionary, figures=lambda tables: {}, debug=store)
    store.add([entry({"x_debug_id": "t", "document_id": "d0", "submission_timestamp": "2026-11-29T10:00:00Z"}, {"n": 0})])
    assert "evicted" not in site.render("/debug/").body.decode()
    assert "at most 0.5 MiB and 2 tags in all" in site.render("/debug/").body.decode()

    store.add(
        [
            entry({"x_debug_id": "t", "document_id": f"d{i}", "submission_timestamp": "2026-11-29T10:00:00Z"}, {"text": "x" * 200_000})
            for i in range(1, 4)
        ],
        now=1764410400.0,
    )  # 2025-11-29 10:00 UTC
    notice = "older pings were evicted since 2025-11-29 10:00 UTC to keep the viewer under 0.5 MiB / 2 tags."
    for path in ("/debug/", "/debug/t/"):
        body = site.render(path).body.decode()
        n = store.status()["evicted"]
        assert n >= 2 and f"{n} {notice}" in body


def test_the_error_page_counts_refused_pings_by_kind_per_day_with_the_replay_that_recovers_them(dictionary):
    from pingpipe.dictionary.figures import error_groups

    con = error_table()
    today = dt.date(2026, 12, 7)
    for day, doctype, error_type, uri in [
        ("2026-12-05", "events", "ParsePayload", "/submit/a/events/1/x"),
        ("2026-12-06", "events", "ParsePayload", "/submit/a/events/1/y"),
        ("2026-12-06", "events", "duplicate", "/submit/a/events/1/y"),  # counted, not an error to mend
        ("2026-12-06", None, "ParseRawMessage", None),  # a line that was no message: nothing to replay
        ("2026-11-01", "events", "ParsePayload", "/submit/a/events/1/z"),  # before the span
    ]:
        con.execute(
            "INSERT INTO payload_bytes_error.structured (submission_timestamp, document_namespace, document_type, error_type, uri) "
            "VALUES (?::TIMESTAMPTZ, ?, ?, ?, ?)",
            [f"{day} 23:30:00+00", "a" if doctype else None, doctype, error_type, uri],
        )
    groups = error_groups(con.cursor(), today)
    assert [(g.namespace, g.doctype, g.error_type, g.total, g.replayable) for g in groups] == [
        ("a", "events", "ParsePayload", 2, 2),
        (None, None, "ParseRawMessage", 1, 0),
    ]
    assert groups[0].per_day[-3:] == [("2026-12-05", 1), ("2026-12-06", 1), ("2026-12-07", 0)]  # 23:30 UTC stays its UTC day
    assert groups[0].replay_command() == "pingpipe replay --since 2026-12-05 --namespace a --doctype events --error-type ParsePayload"
    body = Site(dictionary, figures=lambda tables: {}, errors=lambda: groups).render("/errors/").body.decode()
    assert "pingpipe replay --since 2026-12-05 --namespace a --doctype events --error-type ParsePayload" in body
    assert "no URI: not replayable" in body and body.count('class="spark"') == 2
    assert Site(dictionary).render("/errors/").status == 404  # a static build has no warehouse


def test_a_pings_page_has_a_health_line_rows_per_day_its_error_rate_and_when_it_last_came(dictionary):
    from pingpipe.dictionary.figures import table_figures

    con = error_table()
    con.execute("CREATE SCHEMA pingpipe_demo_live")
    con.execute("CREATE TABLE pingpipe_demo_live.hello_v1 (document_id VARCHAR, submission_timestamp TIMESTAMPTZ)")
    today = dt.date(2026, 12, 7)
    for i in range(3):
        con.execute("INSERT INTO pingpipe_demo_live.hello_v1 VALUES (?, ?::TIMESTAMPTZ)", [f"d{i}", f"2026-12-0{5 + i} 10:00:00+00"])
    for doctype, error_type in [("hello", "ParsePayload"), ("hello", "duplicate"), ("other", "ParsePayload")]:  # only the first counts
        con.execute(
            "INSERT INTO payload_bytes_error.structured (submission_timestamp, document_namespace, document_type, error_type) "
            "VALUES ('2026-12-06 10:00:00+00', 'pingpipe-demo', ?, ?)",
            [doctype, error_type],
        )
    cursor = con.cursor()  # as up's own cursors are (writers/duckdb.py), in UTC whatever the machine's zone
    cursor.execute("SET TimeZone = 'UTC'")
    f = table_figures(cursor, "pingpipe_demo_live.hello_v1", today)
    figures = {"pingpipe_demo_live.hello_v1": f}
    assert (f.rows, f.errors, f.error_rate) == (3, 1, 0.25) and f.last_received.startswith("2026-12-07 10:00:00")
    body = Site(dictionary, figures=lambda tables: figures).render("/apps/pingpipe-demo/pings/hello/").body.decode()
    assert "3 rows, last received 2026-12-07 10:00:00" in body and "error rate 25.0% (1 error rows in 30 days)" in body


def test_a_derived_tables_page_shows_its_checks_of_the_last_cycled_day(dictionary):
    import duckdb

    from pingpipe.dictionary.figures import table_figures

    con = duckdb.connect()
    con.execute("CREATE SCHEMA pingpipe_demo_derived")
    con.execute("CREATE TABLE pingpipe_demo_derived.baseline_clients_daily_v1 (submission_date DATE, client_id VARCHAR)")
    con.execute("CREATE SCHEMA _pingpipe")
    con.execute("CREATE TABLE _pingpipe.cycles (day DATE PRIMARY KEY, finished_at TIMESTAMPTZ, report JSON)")
    failed = [{"check": 1, "marker": "fail", "passed": False, "message": "2 value(s) of (client_id) are not unique"}]
    for day, outcomes in (("2026-12-04", [{"check": 1, "marker": "fail", "passed": True, "message": None}]), ("2026-12-05", failed)):
        report = {"etl": {"checks": {"pingpipe_demo_derived.baseline_clients_daily_v1": outcomes}}}
        con.execute("INSERT INTO _pingpipe.cycles VALUES (?, now(), ?)", [day, json.dumps(report)])
    f = table_figures(con, "pingpipe_demo_derived.baseline_clients_daily_v1", dt.date(2026, 12, 6))
    assert (f.checks_day, f.checks) == ("2026-12-05", failed)
    table = "pingpipe_demo_derived.baseline_clients_daily_v1"
    body = Site(dictionary, figures=lambda tables: {table: f}).render(f"/tables/{table}/").body.decode()
    assert "on 2026-12-05: 0 of 1 passed" in body and "check 1 (#fail): 2 value(s) of (client_id) are not unique" in body
