"""Which charts a metric's page shows, and each chart's query in BigQuery's dialect, written from
the templates and metadata in charts/ (as bigquery-etl keeps a query beside its metadata).

Pure: no warehouse. The query is the chart: the page draws its rows, offers them as CSV and JSON,
and shows the text, which runs as is on BigQuery and in `pingpipe query --dialect bigquery`. So
every filter and the minimum client count are written into the text, as literals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from pingpipe import utc

if TYPE_CHECKING:  # the CLI reads ChartConfig's defaults without loading the catalog (and sqlglot)
    from .catalog import AppDoc, MetricColumn, MetricDoc

SUMMED = {"counter"}
SUMMED_LABELS = {"labeled_counter"}
SCALARS = {"quantity": "{c}", "timespan": "{c}.value"}
DISTRIBUTIONS = {"timing_distribution", "memory_distribution", "custom_distribution"}
SHARED = {"boolean": "CAST({c} AS STRING)", "string": "{c}"}
# A string metric that may hold what people typed or stored is shown by its clients only.
FREE_TEXT = {"stored_content", "highly_sensitive"}
GLEAN_ERRORS = ("invalid_value", "invalid_label", "invalid_state", "invalid_overflow", "invalid_type")
PERCENTILES = (5, 50, 95)
VALUE_UNITS = {  # what a distribution's values count in, whatever its unit says
    "timing_distribution": "nanoseconds (Glean sends every timing in them)",
    "memory_distribution": "bytes",
}


@dataclass(frozen=True)
class ChartConfig:
    """The metric pages' charts: spans a page offers (the first is the default), the least clients a
    cell must have to be shown (GLAM hides small cells too), how many values or labels a chart
    shows, and how long a query's rows are kept before the warehouse is asked again."""

    spans: tuple[int, ...] = (28, 90)
    min_clients: int = 5
    top: int = 5
    cache_seconds: float = 60.0  # a chart that is not per_day: served from the cache, read again in the background after this
    today_seconds: float = 5.0  # a per_day chart's today: read again after this (its days before are kept while unchanged)
    options_seconds: float = 600.0  # the channels and versions a page's form offers change slowly
    parallel: int = 2  # a page's chart queries run side by side (each query on one DuckDB thread in `up`)
    prewarm_rows: int = 200_000  # `up` reads the default view of every metric whose table holds more rows, once a day


CHARTS = ChartConfig()


@dataclass(frozen=True)
class View:
    """What a page was asked for: its days, filters and the days a histogram compares."""

    today: dt.date
    days: int = CHARTS.spans[0]
    channel: str | None = None
    version: str | None = None
    ping: str | None = None
    day: dt.date | None = None  # a histogram's day, and the day it is set against
    against: dt.date | None = None

    @property
    def first(self) -> dt.date:
        return self.today - dt.timedelta(days=self.days - 1)

    @property
    def days_shown(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range(self.days)]

    def before_today(self) -> View:
        return replace(self, today=self.today - dt.timedelta(days=1), days=self.days - 1)

    def just_today(self) -> View:
        return replace(self, days=1)


@dataclass
class Chart:
    key: str
    title: str
    about: str
    sql: str  # BigQuery's dialect, runnable as is
    draw: dict = field(default_factory=dict)  # charts.yaml's: how the rows are plotted
    # A per_day chart's query split in two: its days before today, and today. Their rows, one after
    # the other, are the query's rows; `unchanged` reads what says the days before today still hold.
    before_today: str | None = None
    today: str | None = None
    unchanged: str | None = None


@cache
def _meta() -> dict:
    import yaml  # here: the CLI reads ChartConfig's defaults at every start

    return yaml.safe_load((resources.files("pingpipe.dictionary") / "charts" / "charts.yaml").read_text())


@cache
def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("pingpipe.dictionary", "charts"),
        autoescape=False,  # SQL: every value from outside is a literal written by `literal`
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def literal(value: str) -> str:
    """A BigQuery string literal of `value`, whatever it holds."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") + "'"


def filters(view: View, channel_column: str = "normalized_channel", version_column: str | None = "client_info.app_display_version"):
    """The view's filters as conditions, and as the words the query's comment says them in."""
    conditions, words = [], []
    if view.channel is not None:
        conditions.append(f"{channel_column} = {literal(view.channel)}")
        words.append(f"channel {commented(view.channel)}")
    if view.version is not None and version_column is not None:
        conditions.append(f"{version_column} = {literal(view.version)}")
        words.append(f"version {commented(view.version)}")
    return conditions, (", " + " and ".join(words) if words else "")


def commented(value: str) -> str:
    """A value as the query's /* comment */ can say it: on one line, never closing the comment."""
    return " ".join(value.split()).replace("*/", "* /")


def chart(key: str, view: View, config: ChartConfig, **context) -> Chart:
    """One chart of charts.yaml: its template written with the view's span and `context`."""
    meta = _meta()[key]
    first, last, end = _span(view)
    values = {
        "title": meta["title"],
        "first": first,
        "last": last,
        "end": end,
        "min_clients": config.min_clients,
        "top": config.top,
        **context,
    }
    values["measure_names"] = [f"p{p}" for p in values.get("percentiles", ())] + [name for name, _ in values.get("measures", ())]
    made = Chart(key, meta["title"], meta["about"], _render(meta["template"], values), meta["draw"])
    if meta.get("per_day") and view.days > 1:
        for name, part in (("before_today", view.before_today()), ("today", view.just_today())):
            first, last, end = _span(part)
            setattr(made, name, _render(meta["template"], {**values, "first": first, "last": last, "end": end}))
        made.unchanged = _render("unchanged.sql", {"table": values["table"], "column": meta["per_day"], "today": view.today.isoformat()})
    return made


def _span(view: View) -> tuple[str, str, str]:
    """A view's first and last days, and the day after its last (where its timestamps stop)."""
    return view.first.isoformat(), view.today.isoformat(), (view.today + dt.timedelta(days=1)).isoformat()


def _render(template: str, values: dict) -> str:
    return _env().get_template(template).render(**values).strip() + "\n"


def shows_values(metric: MetricDoc) -> bool:
    return metric.type in SHARED and not (metric.type == "string" and FREE_TEXT & set(metric.data_sensitivity))


def metric_charts(
    metric: MetricDoc, column: MetricColumn, view: View, config: ChartConfig = CHARTS, errors: tuple[str, ...] = ()
) -> list[Chart]:
    """The charts of `metric` as `column` holds it, for what its type can show; `errors` are the
    Glean error metrics (GLEAN_ERRORS) the column's table has columns for."""
    c = column.column
    conditions, note = filters(view)
    base = {"metric": metric.identifier, "table": column.table, "note": note, "unnests": (), "values": ()}
    base |= {"percentiles": (), "measures": ()}
    present = f"ARRAY_LENGTH({c}) > 0" if column.mode == "REPEATED" else f"{c} IS NOT NULL"
    charts = []
    if metric.type == "event":
        event = [f"e.category = {literal(metric.category)}", f"e.name = {literal(metric.name)}"]
        unnest = (("events", "e"),)
        charts.append(
            chart(
                "events",
                view,
                config,
                **{**base, "unnests": unnest, "conditions": event + conditions, "measures": (("events", "COUNT(*)"),)},
            )
        )
        if metric.extra_keys:
            keys = ", ".join(literal(k) for k in metric.extra_keys)
            charts.append(
                chart(
                    "extras",
                    view,
                    config,
                    **{
                        **base,
                        "unnests": unnest + (("e.extra", "x"),),
                        "values": (("extra_key", "x.key"), ("extra_value", "x.value")),
                        "conditions": event + [f"x.key IN ({keys})"] + conditions,
                    },
                )
            )
    elif metric.type in SUMMED or metric.type in SUMMED_LABELS:
        labeled = metric.type in SUMMED_LABELS
        shape = (
            {"unnests": ((c, "l"),), "values": (("key", "l.key"), ("value", "l.value"))}
            if labeled
            else {"values": (("value", c),), "unnests": ()}
        )
        sums = (("total", "SUM(value)"), ("mean_per_client", "SUM(value) / COUNT(DISTINCT client_id)"))
        charts.append(
            chart("counts", view, config, **{**base, **shape, "conditions": [present] * (not labeled) + conditions, "measures": sums})
        )
        if labeled:
            context = {**base, **shape, "conditions": conditions, "measure": "SUM(value)", "measure_name": "total"}
            charts.append(chart("labels", view, config, key_name="label", rank_name="sum", **context))
    elif metric.type in SCALARS or metric.type in DISTRIBUTIONS:
        if metric.type in SCALARS:
            shape = {"values": (("value", SCALARS[metric.type].format(c=c)),), "conditions": [present] + conditions}
            weight = "1"
        else:
            shape = {"values": (("value", "CAST(b.key AS INT64)"), ("samples", "b.value")), "unnests": ((f"{c}.values", "b"),)}
            shape["conditions"] = ["b.value > 0"] + conditions
            weight = "samples"
        charts.append(chart("percentiles", view, config, **{**base, **shape, "weight": weight, "percentiles": PERCENTILES}))
        unit = VALUE_UNITS.get(metric.type) or (f"{metric.unit}s" if metric.type == "timespan" and metric.unit else None)
        if unit:
            charts[-1].about += f" Values in {unit}."
        if metric.type in DISTRIBUTIONS:
            day = view.day or view.today - dt.timedelta(days=1)
            against = view.against or day - dt.timedelta(days=7)
            span = replace(view, today=max(day, against), days=abs((day - against).days) + 1)
            shape = {**shape, "values": (("bucket", "CAST(b.key AS INT64)"), ("samples", "b.value"))}
            charts.append(chart("histogram", span, config, **{**base, **shape, "day": day.isoformat(), "against": against.isoformat()}))
    else:
        charts.append(chart("presence", view, config, **{**base, "conditions": [present] + conditions, "measures": ()}))
        if shows_values(metric):
            shape = {"values": (("key", SHARED[metric.type].format(c=c)),), "conditions": [present] + conditions}
            context = {**base, **shape, "measure": "COUNT(DISTINCT client_id)", "measure_name": "clients_with_it"}
            charts.append(chart("values", view, config, key_name="value", rank_name="clients", **context))
    if errors and not metric.builtin:
        charts.append(
            chart("errors", view, config, **{**base, "errors": errors, "identifier": literal(metric.identifier), "conditions": conditions})
        )
    return charts


def filter_options_sql(table: str, view: View) -> str:
    """The query of the channels and versions a table holds over the view's span."""
    first, last, end = _span(view)
    return _render("filters.sql", {"table": table, "first": first, "last": last, "end": end})


def active_users_chart(app: AppDoc, table: str, view: View, config: ChartConfig = CHARTS) -> Chart:
    """DAU, WAU and MAU of an app from its active_users view (etl/glean_usage.py)."""
    conditions, note = filters(view, channel_column="channel", version_column=None)
    return chart("active_users", view, config, app=app.app_id, table=table, conditions=conditions, note=note)


def error_columns(columns: list[str]) -> tuple[str, ...]:
    """The Glean error metrics a table has columns for, from its columns' dotted paths."""
    return tuple(e for e in GLEAN_ERRORS if f"metrics.labeled_counter.glean_error_{e}" in columns)


def parse_view(query: dict[str, str], today: dt.date | None = None, config: ChartConfig = CHARTS) -> View:
    """A page's view from its query string; what cannot be read is left at its default."""
    today = today or utc.today()
    days = int(query["days"]) if query.get("days", "").isdigit() and int(query["days"]) in config.spans else config.spans[0]

    def day(name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(query.get(name, ""))
        except ValueError:
            return None

    return View(
        today,
        days,
        channel=query.get("channel") or None,
        version=query.get("version") or None,
        ping=query.get("ping") or None,
        day=day("day"),
        against=day("against"),
    )
