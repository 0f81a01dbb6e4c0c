"""The dictionary's pages: one route table for the live site (`up`) and the static build.

Every link is relative to the page, so a static build works wherever it is published, and every
path is stable (`apps/<namespace>/metrics/<metric>/`), so it can be pasted into a bug. Templates
are Jinja2 with autoescaping; the only scripts are the search box and the debug pages' refresh,
served from the package (no CDN, no build step).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import mimetypes
import re
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import jinja2
import orjson
from markupsafe import Markup, escape

from pingpipe import utc

from . import catalog, chartdata, svg
from .catalog import Dictionary
from .charts import CHARTS, Chart, ChartConfig, View, active_users_chart, error_columns, filter_options_sql, metric_charts, parse_view
from .debug import MIB, DebugStore, as_json
from .figures import ERROR_DAYS, ErrorGroup, Figures, sparkline

STATIC = ("style.css", "search.js", "live.js", "favicon.svg")


@dataclass
class Page:
    status: int
    content_type: str
    body: bytes


class NotFound(Exception):
    pass


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pingpipe.dictionary", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.globals.update(
        app_url=catalog.app_url,
        ping_url=catalog.ping_url,
        metric_url=catalog.metric_url,
        table_url=catalog.table_url,
        first_line=first_line,
        paragraphs=paragraphs,
        link=link,
        spark=spark,
    )
    return env


def first_line(text: str) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ")[:240]


def paragraphs(text: str) -> Markup:
    return Markup("".join(f"<p>{escape(p.strip())}</p>" for p in (text or "").split("\n\n") if p.strip()))


def link(url: str) -> Markup:
    """A link for an http(s) URL; anything else (a bug number, a name) as text."""
    if re.match(r"https?://", url):
        return Markup(f'<a href="{escape(url)}" rel="noreferrer">{escape(url)}</a>')
    return escape(url)


def spark(figures: Figures | ErrorGroup | None) -> Markup:
    if not figures or not figures.per_day:
        return Markup("")
    return Markup(sparkline([n for _, n in figures.per_day]))


class Site:
    """Renders any page of the dictionary. `figures(tables)` gives warehouse figures (live only);
    `debug` is `up`'s store of tagged pings, `errors()` the error rows by kind, `trace(id)` where a
    document is (pingpipe/up/trace.py; all three live only), `charts` runs the metric pages' chart
    queries (chartdata.py: on DuckDB live, or on BigQuery). `dictionary` may be a function that builds
    it: it runs on the first page asked for, so that `up` starts without parsing every app's metrics."""

    def __init__(
        self,
        dictionary: Dictionary | Callable[[], Dictionary],
        *,
        figures: Callable[[list[str]], dict[str, Figures]] | None = None,
        debug: DebugStore | None = None,
        errors: Callable[[], list[ErrorGroup]] | None = None,
        trace: Callable[[str], dict] | None = None,
        charts: chartdata.ChartQueries | None = None,
        chart_config: ChartConfig = CHARTS,
        source: str = "<code>pingpipe up</code>",
        now: Callable[[], dt.datetime] | None = None,
    ):
        self._dictionary = dictionary
        self.charts = charts
        self.chart_config = chart_config
        self._pool: ThreadPoolExecutor | None = None
        self.source = source  # what the live figures are read from, as the footer names it (HTML)
        self.errors = errors
        self.trace = trace
        self._building = threading.Lock()
        self.figures = figures
        self.debug = debug
        self.live = figures is not None or charts is not None
        self.now = now or utc.now
        self.env = _env()

    @property
    def d(self) -> Dictionary:
        with self._building:
            if callable(self._dictionary):
                self._dictionary = self._dictionary()
            return self._dictionary

    def render(self, path: str) -> Page:
        """The page at `path` (relative to the site's root, e.g. `apps/x/`), or a 404 page."""
        path, _, query_string = path.partition("?")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(query_string).items()}
        parts = [p for p in urllib.parse.unquote(path).lstrip("/").split("/") if p]
        try:
            if parts[:1] == ["static"] and len(parts) == 2 and parts[1] in STATIC:
                data = (resources.files("pingpipe.dictionary") / "static" / parts[1]).read_bytes()
                return Page(200, mimetypes.guess_type(parts[1])[0] or "application/octet-stream", data)
            if parts[:2] == ["api", "debug"] and self.debug is not None and len(parts) <= 3:
                return Page(200, "application/json", orjson.dumps(self._debug_api(parts[2:])))
            if parts == ["search-index.js"]:
                body = b"window.PINGPIPE_INDEX = " + orjson.dumps(catalog.search_index(self.d)) + b";\n"
                return Page(200, "text/javascript", body)
            if len(parts) == 6 and parts[0] == "apps" and parts[2] == "metrics" and parts[4] == "chart" and self.charts is not None:
                return self._download(parts, query)
            if len(parts) == 4 and parts[0] == "apps" and parts[2] == "chart" and parts[3].startswith("active_users."):
                app = self._app(parts[1])
                drawn = self._app_charts(app, query).get("charts")
                if not drawn or self.charts is None:
                    raise NotFound(f"{app.app_id} has no active_users table")
                return _as_download(parts[3], drawn[0]["chart"], self.charts.chart(drawn[0]["chart"]))
            return Page(200, "text/html; charset=utf-8", self._html(parts, query))
        except NotFound as exc:
            return Page(404, "text/html; charset=utf-8", self._template("not_found.html", parts, title="Not found", message=str(exc)))

    def _html(self, parts: list[str], query: dict[str, str] | None = None) -> bytes:
        d = self.d
        match parts:
            case []:
                rows = self._app_rows() if self.live else {}
                return self._template("index.html", parts, title="Apps", apps=list(d.apps.values()), rows=rows, problems=d.problems)
            case ["tables"]:
                tables = list(d.tables.values())
                return self._template("tables.html", parts, title="Tables", tables=tables, figures=self._figures([t.name for t in tables]))
            case ["tables", name]:
                table = d.tables.get(name)
                if table is None:
                    raise NotFound(f"no table {name}")
                f = self._figures([name]).get(name) or Figures()
                return self._template(
                    "table.html",
                    parts,
                    title=name,
                    table=table,
                    f=f,
                    upstream=d.lineage(name, "upstream"),
                    downstream=d.lineage(name, "downstream"),
                    crumbs=self._app_crumbs(table.app),
                )
            case ["apps", namespace]:
                app = self._app(namespace)
                live_tables = [p.tables[0] for p in app.pings.values() if p.tables]
                return self._template(
                    "app.html", parts, title=app.app_id, app=app, figures=self._figures(live_tables), **self._app_charts(app, query or {})
                )
            case ["apps", namespace, "pings", name]:
                app = self._app(namespace)
                ping = app.pings.get(name)
                if ping is None:
                    raise NotFound(f"{namespace} has no ping {name}")
                return self._template(
                    "ping.html",
                    parts,
                    title=f"{name} ping",
                    app=app,
                    ping=ping,
                    figures=self._figures(ping.tables[:1]),
                    crumbs=self._app_crumbs(namespace),
                )
            case ["apps", namespace, "metrics", identifier]:
                app = self._app(namespace)
                metric = app.metrics.get(identifier)
                if metric is None:
                    raise NotFound(f"{namespace} has no metric {identifier}")
                return self._template(
                    "metric.html",
                    parts,
                    title=identifier,
                    app=app,
                    metric=metric,
                    crumbs=self._app_crumbs(namespace),
                    **self._metric_charts(metric, query or {}),
                )
            case ["errors"] if self.errors is not None:
                groups = self.errors()
                return self._template("errors.html", parts, title="Errors", groups=groups, days=ERROR_DAYS)
            case ["trace", document_id] if self.trace is not None:
                found = self.trace(document_id)
                return self._template("trace.html", parts, title=f"Trace {document_id}", found=found, crumbs=[("Debug pings", "debug/")])
            case ["debug"] if self.debug is not None:
                return self._template("debug_tags.html", parts, title="Debug pings", tags=self.debug.tags(), **self._debug_limits())
            case ["debug", tag] if self.debug is not None:
                return self._template(
                    "debug_tag.html",
                    parts,
                    title=f"Debug: {tag}",
                    tag=tag,
                    pings=self.debug.pings(tag),
                    tracing=self.trace is not None,
                    crumbs=[("Debug pings", "debug/")],
                    **self._debug_limits(),
                )
        raise NotFound(f"no page {'/'.join(parts)}/")

    def _metric_view(self, metric, query: dict[str, str]) -> tuple[View, catalog.MetricColumn | None, dict]:
        """The view a metric page was asked for, the column it reads, and the filters it can offer:
        a channel or version the table does not hold is not written into any query."""
        view = parse_view(query, self.now().date(), self.chart_config)
        columns = {c.ping: c for c in metric.columns}
        if not columns:
            return view, None, {}
        # The ping asked for; else the first that has rows in the span, the metrics ping first.
        order = [view.ping] if view.ping in columns else sorted(columns, key=lambda p: p != "metrics")
        column, options = columns[order[0]], []
        for ping in order:
            options = self._options(columns[ping].table, view)
            if options:
                column = columns[ping]
                break
        channels = sorted({r[0] for r in options if r[0] is not None})
        versions = sorted({r[1] for r in options if r[1] is not None}, key=_version_key, reverse=True)
        view = dataclasses.replace(
            view,
            ping=column.ping,
            channel=view.channel if view.channel in channels else None,
            version=view.version if view.version in versions else None,
        )
        return view, column, {"channels": channels, "versions": versions}

    def _options(self, table: str, view: View) -> list[list]:
        try:
            return self.charts.run(filter_options_sql(table, view), keep=self.chart_config.options_seconds)["rows"]
        except Exception:  # noqa: BLE001 - no table yet (nothing sent): no filters to offer
            return []

    def _metric_charts(self, metric, query: dict[str, str]) -> dict:
        if self.charts is None:
            return {}
        view, column, options = self._metric_view(metric, query)
        if column is None:
            return {}
        charts = self._all_drawn(self._charts_of(metric, column, view), view)
        last = max((r for c in charts for r in c["last_received"]), default=None)
        return {
            "view": view,
            "charts": charts,
            "options": options,
            "spans": self.chart_config.spans,
            "last_received": last,
            "query": _query(view),
            "min_clients": self.chart_config.min_clients,
        }

    def _app_charts(self, app, query: dict[str, str]) -> dict:
        table = next((t for t in app.tables if t.endswith(".active_users")), None)
        if self.charts is None or table is None:
            return {}
        view = parse_view(query, self.now().date(), self.chart_config)
        return {"view": view, "charts": [self._drawn(active_users_chart(app, table, view, self.chart_config), view)], "query": _query(view)}

    def _all_drawn(self, charts: list[Chart], view: View) -> list[dict]:
        """The charts of a page, their queries side by side (ChartConfig.parallel)."""
        with self._building:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.chart_config.parallel, thread_name_prefix="charts")
        return list(self._pool.map(lambda c: self._drawn(c, view), charts))

    def _drawn(self, chart: Chart, view: View) -> dict:
        """A chart with its rows read and drawn, or with why it has none."""
        drawn = {"chart": chart, "panels": [], "rows": [], "columns": [], "problem": None, "last_received": []}
        try:
            result = self.charts.chart(chart)
        except Exception as exc:  # noqa: BLE001 - one chart failing (its table not made yet) leaves the page
            drawn["problem"] = _no_rows(exc)
            return drawn
        drawn["rows"], drawn["columns"] = result["rows"], result["columns"]
        if "last_received" in result["columns"]:
            at = result["columns"].index("last_received")
            drawn["last_received"] = [r[at] for r in result["rows"] if r[at] is not None]
        days = [d.isoformat() for d in view.days_shown]
        drawn["panels"] = [
            (name, Markup(s), legend) for name, s, legend in svg.panels(chart.draw, result["columns"], result["rows"], days, chart.title)
        ]
        return drawn

    def _charts_of(self, metric, column: catalog.MetricColumn, view: View) -> list[Chart]:
        """The metric's charts as `column` holds it, with the Glean error metrics its table has."""
        table = self.d.tables.get(column.table)
        errors = error_columns([c.path for c in table.columns]) if table else ()
        return metric_charts(metric, column, view, self.chart_config, errors)

    def _download(self, parts: list[str], query: dict[str, str]) -> Page:
        """`apps/<ns>/metrics/<id>/chart/<key>.csv|.json`: a chart's rows, for the same view."""
        _, namespace, _, identifier, _, name = parts
        key, _, suffix = name.rpartition(".")
        metric = self._app(namespace).metrics.get(identifier)
        if metric is None or suffix not in ("csv", "json"):
            raise NotFound(f"no chart {name}")
        view, column, _ = self._metric_view(metric, query)
        chart = next((c for c in self._charts_of(metric, column, view) if c.key == key), None) if column else None
        if chart is None:
            raise NotFound(f"{identifier} has no chart {key}")
        return _as_download(name, chart, self.charts.chart(chart))

    def prewarm(self, sizes: dict[str, int], stop: threading.Event | None = None) -> int:
        """Open the default view of every metric page whose table holds more than `prewarm_rows` rows
        (`sizes`: rows by `dataset.table`), and its app's page, so that the first person to open one
        finds its days before today read. Returns the pages opened."""
        big = {t for t, n in sizes.items() if n > self.chart_config.prewarm_rows}
        if not big:
            return 0  # before the dictionary is built: a small warehouse costs nothing here
        opened = 0
        for app in self.d.apps.values():
            paths = [
                catalog.metric_url(app.namespace, m.identifier) for m in app.metrics.values() if any(c.table in big for c in m.columns)
            ]
            for path in paths + [catalog.app_url(app.namespace)] * bool(paths):
                if stop is not None and stop.is_set():
                    return opened
                self.render(path)
                opened += 1
        return opened

    def _debug_api(self, parts: list[str]) -> dict:
        """The debug view as JSON, for tests in any language: `api/debug/` its tags, `api/debug/<tag>`
        that tag's pings, newest first, each with its verdict (debug.as_json)."""
        if not parts:
            return {"tags": self.debug.tags(), **self.debug.status()}
        return {"tag": parts[0], "pings": [as_json(e) for e in self.debug.pings(parts[0])]}

    def _template(self, name: str, parts: list[str], **values) -> bytes:
        base = "../" * len(parts)
        values.setdefault("crumbs", [])
        html = self.env.get_template(name).render(
            base=base,
            live=self.live,
            now=self.now().strftime("%Y-%m-%d %H:%M"),
            has_errors=self.errors is not None,
            has_debug=self.debug is not None,
            source=Markup(self.source),
            cache_seconds=self.charts.cache_seconds if self.charts else 0,
            **values,
        )
        return html.encode("utf-8")

    def _app(self, namespace: str):
        app = self.d.apps.get(namespace)
        if app is None:
            raise NotFound(f"no app {namespace}")
        return app

    def _app_crumbs(self, namespace: str | None) -> list[tuple[str, str]]:
        if namespace is None or namespace not in self.d.apps:
            return [("Tables", "tables/")]
        return [(self.d.apps[namespace].app_id, catalog.app_url(namespace))]

    def _figures(self, tables: list[str]) -> dict[str, Figures]:
        return self.figures(tables) if self.figures else {}

    def _app_rows(self) -> dict[str, int]:
        """Rows in each app's live tables."""
        lives = {app: [p.tables[0] for p in doc.pings.values() if p.tables] for app, doc in self.d.apps.items()}
        figures = self._figures([t for ts in lives.values() for t in ts])
        return {app: sum(figures[t].rows or 0 for t in ts if t in figures and figures[t].exists) for app, ts in lives.items()}

    def _debug_limits(self) -> dict:
        """The store's bounds, and what they evicted: a user looking for an evicted ping is told why."""
        c, status = self.debug.config, self.debug.status()
        limits = {
            "per_tag": c.per_tag,
            "hours": round(c.max_age / 3600, 1),
            "max_mb": f"{round(c.max_bytes / MIB, 2):g}",
            "max_tags": c.max_tags,
            "evicted": "",
        }
        if status["evicted"]:
            n, since = status["evicted"], dt.datetime.fromtimestamp(status["evicted_since"], dt.timezone.utc)
            limits["evicted"] = (
                f"{n} older {'ping was' if n == 1 else 'pings were'} evicted since {since:%Y-%m-%d %H:%M} "
                f"UTC to keep the viewer under {limits['max_mb']} MiB / {c.max_tags} tags."
            )
        return limits

    def paths(self) -> list[str]:
        """Every page of the static site."""
        out = ["", "tables/", "search-index.js"] + [f"static/{name}" for name in STATIC]
        out += [catalog.table_url(t) for t in self.d.tables]
        for app in self.d.apps.values():
            out.append(catalog.app_url(app.namespace))
            out += [catalog.ping_url(app.namespace, p) for p in app.pings]
            out += [catalog.metric_url(app.namespace, m) for m in app.metrics]
        return out


def _as_download(name: str, chart: Chart, result: dict) -> Page:
    if name.endswith(".csv"):
        return Page(200, "text/csv; charset=utf-8", chartdata.as_csv(result))
    if name.endswith(".json"):
        return Page(200, "application/json", chartdata.as_json(chart, result))
    raise NotFound(f"no download {name}: .csv or .json")


def _version_key(version: str) -> list:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.-]", version)]


def _query(view: View) -> str:
    """The view as a query string, for the page's links (its downloads)."""
    values = {"days": view.days, "ping": view.ping, "channel": view.channel, "version": view.version}
    values |= {"day": view.day, "against": view.against}
    return urllib.parse.urlencode({k: str(v) for k, v in values.items() if v is not None})


def _no_rows(exc: Exception) -> str:
    text = str(exc).split("\n")[0]
    if "does not exist" in text or "not found" in text.lower():
        return "No rows yet: its table has not been made (nothing was sent to it)."
    return f"This chart could not be read: {text}"


def build_site(site: Site, out: Path) -> int:
    """Write every page under `out` (a page `x/` as `x/index.html`); returns the number of files."""
    count = 0
    for path in site.paths():
        page = site.render(path)
        if page.status != 200:
            raise RuntimeError(f"page {path} did not render: {page.status}")
        target = out / path / "index.html" if path == "" or path.endswith("/") else out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.body)
        count += 1
    return count
