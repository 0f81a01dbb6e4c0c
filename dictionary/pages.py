"""The dictionary's pages: one route table for the live site (`up`) and the static build.

Every link is relative to the page, so a static build works wherever it is published, and every
path is stable (`apps/<namespace>/metrics/<metric>/`), so it can be pasted into a bug. Templates
are Jinja2 with autoescaping; the only scripts are the search box and the debug pages' refresh,
served from the package (no CDN, no build step).
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
import threading
import urllib.parse
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import jinja2
import orjson
from markupsafe import Markup, escape

from pingpipe import utc

from . import catalog
from .catalog import Dictionary
from .debug import MIB, DebugStore, as_json
from .figures import ERROR_DAYS, ErrorGroup, Figures, sparkline

STATIC = ("style.css", "search.js", "live.js")


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
    document is (pingpipe/up/trace.py; all three live only). `dictionary` may be a function that builds
    it: it runs on the first page asked for, so that `up` starts without parsing every app's metrics."""

    def __init__(
        self,
        dictionary: Dictionary | Callable[[], Dictionary],
        *,
        figures: Callable[[list[str]], dict[str, Figures]] | None = None,
        debug: DebugStore | None = None,
        errors: Callable[[], list[ErrorGroup]] | None = None,
        trace: Callable[[str], dict] | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ):
        self._dictionary = dictionary
        self.errors = errors
        self.trace = trace
        self._building = threading.Lock()
        self.figures = figures
        self.debug = debug
        self.live = figures is not None
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
        path = urllib.parse.unquote(path.split("?", 1)[0]).lstrip("/")
        parts = [p for p in path.split("/") if p]
        try:
            if parts[:1] == ["static"] and len(parts) == 2 and parts[1] in STATIC:
                data = (resources.files("pingpipe.dictionary") / "static" / parts[1]).read_bytes()
                return Page(200, mimetypes.guess_type(parts[1])[0] or "application/octet-stream", data)
            if parts[:2] == ["api", "debug"] and self.debug is not None and len(parts) <= 3:
                return Page(200, "application/json", orjson.dumps(self._debug_api(parts[2:])))
            if parts == ["search-index.js"]:
                body = b"window.PINGPIPE_INDEX = " + orjson.dumps(catalog.search_index(self.d)) + b";\n"
                return Page(200, "text/javascript", body)
            return Page(200, "text/html; charset=utf-8", self._html(parts))
        except NotFound as exc:
            return Page(404, "text/html; charset=utf-8", self._template("not_found.html", parts, title="Not found", message=str(exc)))

    def _html(self, parts: list[str]) -> bytes:
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
                return self._template("app.html", parts, title=app.app_id, app=app, figures=self._figures(live_tables))
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
                return self._template("metric.html", parts, title=identifier, app=app, metric=metric, crumbs=self._app_crumbs(namespace))
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

    def _debug_api(self, parts: list[str]) -> dict:
        """The debug view as JSON, for tests in any language: `api/debug/` its tags, `api/debug/<tag>`
        that tag's pings, newest first, each with its verdict (debug.as_json)."""
        if not parts:
            return {"tags": self.debug.tags(), **self.debug.status()}
        return {"tag": parts[0], "pings": [as_json(e) for e in self.debug.pings(parts[0])]}

    def _template(self, name: str, parts: list[str], **values) -> bytes:
        base = "../" * len(parts)
        values.setdefault("crumbs", [])
        html = self.env.get_template(name).render(base=base, live=self.live, now=self.now().strftime("%Y-%m-%d %H:%M"), **values)
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
