"""What the data dictionary knows, built from what the pipeline already holds: the registry, the
Glean definitions beside it (schemas/definitions.py) and the queries' lineage. Pure: no warehouse.

Apps are Glean apps (definitions found) and structured namespaces (schemas only). A metric names
the exact table and column it lands in, read from the table's schema, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pingpipe.etl import catalog as queries_catalog
from pingpipe.etl import lineage
from pingpipe.etl.queries import Query
from pingpipe.schemas import definitions
from pingpipe.schemas.definitions import Definitions
from pingpipe.schemas.glean import BUG_1737656_TYPES, GleanApp, pings_of
from pingpipe.schemas.names import TableId, family_of, is_live, stable_of, view_of
from pingpipe.schemas.registry import Registry, SchemaEntry
from pingpipe.schemas.transpile import property_column

# Glean's pseudo-pings: their metrics fill a section of every ping that has the info sections.
INFO_SECTIONS = {"glean_client_info": "client_info", "glean_internal_info": "ping_info"}


@dataclass
class Column:
    path: str  # as SQL names it: client_info.client_id
    type: str
    mode: str
    description: str = ""


@dataclass
class Table:
    name: str  # dataset.table
    kind: str  # live | stable | view | query | table (lineage's kinds)
    made_by: str
    app: str | None = None  # the namespace it belongs to
    ping: str | None = None
    description: str = ""
    columns: list[Column] = field(default_factory=list)


@dataclass
class MetricColumn:
    ping: str
    table: str
    column: str  # e.g. metrics.counter.demo_launches, or `events` for an event
    sql: str  # works as is in `pingpipe query`
    mode: str = "NULLABLE"  # the column's: REPEATED for lists, labeled metrics and events


@dataclass
class MetricDoc:
    app: str
    identifier: str
    type: str
    description: str
    lifetime: str
    expires: str
    unit: str | None
    labels: tuple[str, ...]
    extra_keys: tuple[str, ...]
    bugs: tuple[str, ...]
    data_reviews: tuple[str, ...]
    notification_emails: tuple[str, ...]
    builtin: bool
    disabled: bool
    pings: list[str]
    columns: list[MetricColumn]
    category: str = ""
    name: str = ""
    data_sensitivity: tuple[str, ...] = ()


@dataclass
class PingDoc:
    app: str
    name: str
    description: str
    reasons: tuple[tuple[str, str], ...] = ()
    include_client_id: bool | None = None
    metrics: list[str] = field(default_factory=list)  # identifiers
    tables: list[str] = field(default_factory=list)  # live first, then stable and view
    version: int | None = None
    builtin: bool = False


@dataclass
class AppDoc:
    namespace: str
    app_id: str
    kind: str  # glean | structured
    pings: dict[str, PingDoc] = field(default_factory=dict)
    metrics: dict[str, MetricDoc] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Dictionary:
    apps: dict[str, AppDoc]
    tables: dict[str, Table]
    nodes: dict[str, lineage.Node]
    problems: dict[str, str] = field(default_factory=dict)  # definitions that could not be read

    def lineage(self, table: str, direction: str) -> list[dict]:
        """The tables `table` is made from (upstream) or that are made from it (downstream), as trees."""
        if table not in self.nodes:
            return []
        return lineage.tree(self.nodes, table, direction)[direction]


def flatten(fields: list[dict], prefix: str = "") -> list[Column]:
    """Every column of a table, records' fields dotted; a REPEATED record's fields shown under it."""
    out = []
    for f in fields:
        path = f"{prefix}{f['name']}"
        out.append(Column(path, f.get("type", ""), f.get("mode", "NULLABLE"), f.get("description") or ""))
        if f.get("type") in ("RECORD", "STRUCT"):
            out += flatten(f.get("fields") or [], path + ("[]." if f.get("mode") == "REPEATED" else "."))
    return out


def metric_column(metric, fields: list[dict], section: str | None = None) -> str | None:
    """The column a Glean metric fills in a table with these fields, found in the fields themselves
    (`section`: client_info or ping_info, for the metrics of Glean's pseudo-pings)."""
    if section is not None:
        name = property_column(metric.name)
        record = next((f for f in fields if f["name"] == section), None)
        found = record is not None and any(c["name"] == name for c in record.get("fields") or [])
        return f"{section}.{name}" if found else None
    if metric.type == "event":
        return "events" if any(f["name"] == "events" for f in fields) else None
    name = property_column(metric.identifier)
    metrics = next((f for f in fields if f["name"] == "metrics"), None)
    if metrics is None or name is None:
        return None
    groups = [metric.type] + ([f"{metric.type}2"] if metric.type in BUG_1737656_TYPES else [])
    for group in metrics.get("fields") or []:
        if group["name"] in groups and any(c["name"] == name for c in group.get("fields") or []):
            return f"metrics.{group['name']}.{name}"
    return None


def sample_sql(table: str, column: str, metric, mode: str) -> str:
    """A query for the metric's latest values that runs as is in `pingpipe query`."""
    if column == "events":
        return (
            f"SELECT submission_timestamp, e.timestamp, e.extra\nFROM {table}, unnest(events) AS u(e)\n"
            f"WHERE e.category = '{metric.category}' AND e.name = '{metric.name}'\n"
            "ORDER BY submission_timestamp DESC\nLIMIT 10"
        )
    present = f"len({column}) > 0" if mode == "REPEATED" else f"{column} IS NOT NULL"
    return (
        f"SELECT submission_timestamp, client_info.client_id, {column}\nFROM {table}\n"
        f"WHERE {present}\nORDER BY submission_timestamp DESC\nLIMIT 10"
    )


def _field_mode(fields: list[dict], path: str) -> str:
    for part in path.split("."):
        f = next((f for f in fields if f["name"] == part), None)
        if f is None:
            return "NULLABLE"
        fields = f.get("fields") or []
    return f.get("mode", "NULLABLE")


def _tables_of(entry: SchemaEntry) -> list[str]:
    live = TableId.parse(entry.live_table)
    return [str(live), str(stable_of(live)), str(view_of(live))]


def _glean_app(app: GleanApp, registry: Registry) -> AppDoc:
    doc = AppDoc(app.namespace, app.app_id, "glean")
    all_pings = list(app.pings)
    for name, ping in sorted(app.pings.items()):
        entry = registry.find(app.namespace, name, 1)
        doc.pings[name] = PingDoc(
            app.namespace,
            name,
            ping.description,
            ping.reasons,
            ping.include_client_id,
            tables=_tables_of(entry) if entry else [],
            version=1 if entry else None,
            builtin=name in app.builtin_pings,
        )
    with_info = [name for name, ping in app.pings.items() if ping.include_info_sections]
    for metric in sorted(app.metrics, key=lambda m: m.identifier):
        columns = []
        pings = sorted(pings_of(metric, all_pings))
        sections = [INFO_SECTIONS[p] for p in pings if p in INFO_SECTIONS]
        if sections:
            pings = sorted(set(p for p in pings if p not in INFO_SECTIONS) | set(with_info))
        for ping in pings:
            entry = registry.find(app.namespace, ping, 1)
            if entry is None:
                continue
            fields = registry.table_schema(entry)
            column = metric_column(metric, fields, sections[0] if sections else None)
            if column is None:
                continue
            table = entry.live_table
            mode = _field_mode(fields, column)
            columns.append(MetricColumn(ping, table, column, sample_sql(table, column, metric, mode), mode))
            if ping in doc.pings:
                doc.pings[ping].metrics.append(metric.identifier)
        doc.metrics[metric.identifier] = MetricDoc(
            app.namespace,
            metric.identifier,
            metric.type,
            metric.description,
            metric.lifetime,
            metric.expires,
            metric.unit,
            metric.labels,
            metric.extra_keys,
            metric.bugs,
            metric.data_reviews,
            metric.notification_emails,
            metric.builtin,
            metric.disabled,
            pings,
            columns,
            metric.category,
            metric.name,
            metric.data_sensitivity,
        )
    for entry in registry:
        if entry.namespace == app.namespace and entry.doctype not in doc.pings:  # a schema the definitions lack
            doc.pings[entry.doctype] = PingDoc(
                app.namespace, entry.doctype, entry.schema.get("description") or "", tables=_tables_of(entry), version=entry.version
            )
    return doc


def build(registry: Registry, queries: list[Query], definitions: Definitions) -> Dictionary:
    nodes = lineage.graph(registry, queries)
    tables: dict[str, Table] = {}
    apps: dict[str, AppDoc] = {}
    for namespace, app in definitions.apps.items():
        apps[namespace] = _glean_app(app, registry)
    for entry in registry:
        if entry.namespace in ("metadata", "glean") and entry.namespace not in definitions.apps:
            continue  # the pipeline's own schemas (metadata) and the generic Glean schema: no table of their own
        doc = apps.get(entry.namespace)
        if doc is None:
            doc = apps[entry.namespace] = AppDoc(entry.namespace, entry.namespace, "structured")
        key = entry.doctype if entry.version == 1 or entry.doctype not in doc.pings else f"{entry.doctype}.{entry.version}"
        if doc.kind == "structured":
            doc.pings[key] = PingDoc(
                entry.namespace, key, entry.schema.get("description") or "", tables=_tables_of(entry), version=entry.version
            )
        columns = flatten(registry.table_schema(entry))
        live, stable, view = _tables_of(entry)
        ping = doc.pings.get(key) or doc.pings.get(entry.doctype)
        about = ping.description if ping else ""
        for name in (live, stable, view):
            node = nodes.get(name)
            tables[name] = Table(
                name,
                node.kind if node else "live",
                node.made_by if node else "",
                entry.namespace,
                ping.name if ping else None,
                about,
                columns,
            )
        doc.tables += [live, stable, view]
    for name, node in nodes.items():
        if name not in tables:
            tables[name] = Table(name, node.kind, node.made_by, _app_of(name, apps))
            if tables[name].app:
                apps[tables[name].app].tables.append(name)
    for q in queries:
        if q.name in tables:
            tables[q.name].description = q.description
            tables[q.name].columns = flatten(q.fields) if q.fields else []
    for doc in apps.values():
        if doc.kind == "glean" and not any(p.tables for p in doc.pings.values()):
            doc.note = "no schemas in the registry for this app's pings: run `pingpipe schemas glean`"
    return Dictionary(dict(sorted(apps.items())), dict(sorted(tables.items())), nodes, dict(definitions.problems))


def _app_of(table: str, apps: dict[str, AppDoc]) -> str | None:
    """The app whose dataset family (read off its live tables, as the registry names them) a derived
    table's dataset belongs to: `<family>_derived`, `<family>`."""
    dataset = table.split(".", 1)[0]
    for doc in apps.values():
        families = {family_of(t.dataset) for t in map(TableId.parse, doc.tables) if is_live(t.dataset)}
        if any(dataset == f or dataset.startswith(f + "_") for f in families):
            return doc.namespace
    return None


def search_index(d: Dictionary) -> list[dict]:
    """What the search box looks in: one entry per app, ping, metric and table, with its page."""
    out = []
    for app in d.apps.values():
        out.append({"kind": "app", "name": app.app_id, "text": app.namespace, "url": app_url(app.namespace)})
        for ping in app.pings.values():
            out.append(
                {
                    "kind": "ping",
                    "name": f"{app.namespace} / {ping.name}",
                    "text": ping.description[:200],
                    "url": ping_url(app.namespace, ping.name),
                }
            )
        for metric in app.metrics.values():
            out.append(
                {
                    "kind": "metric",
                    "name": metric.identifier,
                    "text": f"{app.namespace} {metric.type} {metric.description[:200]}",
                    "url": metric_url(app.namespace, metric.identifier),
                }
            )
    for table in d.tables.values():
        out.append({"kind": "table", "name": table.name, "text": table.description[:200], "url": table_url(table.name)})
    return out


# Stable links: each page's path, relative to the site's root, ending in "/" (index.html in a static build).
def app_url(namespace: str) -> str:
    return f"apps/{namespace}/"


def ping_url(namespace: str, ping: str) -> str:
    return f"apps/{namespace}/pings/{ping}/"


def metric_url(namespace: str, identifier: str) -> str:
    return f"apps/{namespace}/metrics/{identifier}/"


def table_url(table: str) -> str:
    return f"tables/{table}/"


def for_registry(registry: Registry, sql: Path | None = None) -> Dictionary:
    """The dictionary of a registry: its schemas, the definitions beside them, and the queries
    (generated, and the user's `sql` folder) for lineage."""
    return build(registry, queries_catalog.queries(registry, sql), definitions.load(registry.root))
