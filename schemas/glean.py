"""Schemas for a Glean application, from its metrics.yaml / pings.yaml.

What Mozilla publishes for a Glean app (mozilla-schema-generator + mozilla-pipeline-schemas):

* `<namespace>/<ping>/<ping>.1.schema.json`: the generic Glean ping schema (the one that
  validates every Glean ping), with `mozPipelineMetadata` naming the table;
* `<namespace>/<ping>/<ping>.1.bq`: a table with one column per metric sent in that ping,
  `metrics.<type>.<category>_<name>`. It is the transpiled generic schema in which each metric
  type's open map (`additionalProperties`) is replaced by the metrics of that type.

Which `metrics.<type>` groups a table has (checked against burnham's tables in MPS):

* a group for each metric type that has at least one metric sent in that ping, a NULLABLE
  RECORD with one column per metric, typed by the generic schema's `additionalProperties`;
* no group for a type no metric of the ping has: of the generic schema's 25 types, the ones
  without metrics are dropped, not kept as open maps;
* the one exception is bug 1737656: in tables Mozilla created before November 2021 (burnham's
  seven, not its newer `health`), `jwe`, `labeled_rate`, `text` and `url` stay open maps
  (REPEATED key/value, e.g. `labeled_rate` as key + REPEATED key/value{denominator, numerator}),
  whether or not the app has such metrics; metrics of those types go to `<type>2` groups, in
  every table. Only Mozilla's list says which tables those are, so it is an option here.

glean-parser reads the definitions; Glean's own metrics and pings come from the metrics.yaml
and pings.yaml that ship inside the `glean-sdk` package, since the SDK sends them in every app
(see glean_builtin).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

from . import glean_builtin
from .glean_problems import problem_lines
from .names import AppIdError, check_app_id, dataset_family, glean_namespace
from .transpile import merge_metadata, transpile

GENERIC_SCHEMA = "glean.1.schema.json"
GENERIC_MIN_SCHEMA = "glean-min.1.schema.json"  # for pings without client_info/ping_info
ALL_PINGS = ("all-pings", "all_pings")
# Metric types that Mozilla's older tables hold under a "2" suffix (bug 1737656). New tables
# put the metrics of these types in `metrics.<type>2`; affected tables keep an open map.
BUG_1737656_TYPES = ("jwe", "labeled_rate", "text", "url")


class GleanDefinitionError(ValueError):
    """metrics.yaml / pings.yaml that glean-parser rejects; `problems`: one line each (file:line: …)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


@dataclass(frozen=True)
class Metric:
    type: str
    category: str
    name: str
    send_in_pings: tuple[str, ...]
    description: str
    builtin: bool = False  # defined by glean-core, not by the app
    # What a data dictionary shows (glean_parser's names); none of it changes a schema.
    lifetime: str = "ping"
    expires: str = "never"
    unit: str | None = None
    labels: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()
    bugs: tuple[str, ...] = ()
    data_reviews: tuple[str, ...] = ()
    notification_emails: tuple[str, ...] = ()
    disabled: bool = False
    data_sensitivity: tuple[str, ...] = ()  # glean_parser's categories: technical, interaction, stored_content, highly_sensitive

    @property
    def identifier(self) -> str:
        return f"{self.category}.{self.name}" if self.category else self.name


@dataclass(frozen=True)
class Ping:
    name: str
    include_client_id: bool
    include_info_sections: bool
    description: str
    reasons: tuple[tuple[str, str], ...] = ()  # (reason, description)
    bugs: tuple[str, ...] = ()
    data_reviews: tuple[str, ...] = ()
    notification_emails: tuple[str, ...] = ()


@dataclass
class GleanApp:
    app_id: str
    metrics: list[Metric] = field(default_factory=list)
    pings: dict[str, Ping] = field(default_factory=dict)
    builtins: glean_builtin.BuiltinSource | None = None
    builtin_pings: set[str] = field(default_factory=set)

    @property
    def namespace(self) -> str:
        return glean_namespace(self.app_id)

    @property
    def dataset_family(self) -> str:
        return dataset_family(self.namespace)


app_namespace = glean_namespace  # the name its callers know (the rule is names.py's)


def ping_table(ping: str) -> str:
    return f"{ping.replace('-', '_')}_v1"


def _parse(files: list[Path], allow_reserved: bool) -> dict:
    from glean_parser import parser

    for path in files:
        if not Path(path).is_file():
            raise GleanDefinitionError(f"{path}: no such file")
    result = parser.parse_objects([Path(p) for p in files], {"allow_reserved": allow_reserved})
    try:
        errors = list(result)
    except (ValueError, TypeError) as exc:  # what glean_parser raises, rather than yields, e.g. a date that is not one
        shown = " ".join(str(exc).split())
        raise GleanDefinitionError(f"{', '.join(str(p) for p in files)}: {shown}") from None
    if errors:
        problems = problem_lines([str(e) for e in errors])
        raise GleanDefinitionError("\n".join(problems), problems)
    return result.value


def _collect(objects: dict, app: GleanApp, builtin: bool = False) -> None:
    for category, entries in objects.items():
        if category == "tags":
            continue
        if category == "pings":
            for ping in entries.values():
                app.pings[ping.name] = Ping(
                    name=ping.name,
                    include_client_id=bool(ping.include_client_id),
                    include_info_sections=bool(getattr(ping, "include_info_sections", True)),
                    description=ping.description,
                    reasons=tuple(sorted((ping.reasons or {}).items())),
                    **_references(ping),
                )
                if builtin:
                    app.builtin_pings.add(ping.name)
            continue
        for metric in entries.values():
            # Disabled metrics keep their column: server knobs can switch them on remotely.
            app.metrics.append(
                Metric(
                    type=metric.type,
                    category=metric.category,
                    name=metric.name,
                    send_in_pings=tuple(metric.send_in_pings),
                    description=metric.description,
                    builtin=builtin,
                    lifetime=getattr(metric.lifetime, "name", str(metric.lifetime)),
                    expires=str(metric.expires),
                    unit=_unit(metric),
                    labels=tuple(sorted(getattr(metric, "labels", None) or ())),
                    extra_keys=tuple(sorted(getattr(metric, "extra_keys", None) or ())),
                    disabled=bool(metric.disabled),
                    data_sensitivity=tuple(sorted(str(getattr(d, "name", d)) for d in getattr(metric, "data_sensitivity", None) or ())),
                    **_references(metric),
                )
            )


def _unit(metric) -> str | None:
    """A quantity's free-text unit, or a distribution's time or memory unit (an enum in glean_parser)."""
    for name in ("unit", "time_unit", "memory_unit"):
        value = getattr(metric, name, None)
        if value:
            return str(getattr(value, "name", value))
    return None


def _references(obj) -> dict:
    """Who to ask about a metric or ping: its bugs, data reviews and owners' addresses."""
    return {name: tuple(str(v) for v in getattr(obj, name, None) or ()) for name in ("bugs", "data_reviews", "notification_emails")}


def load_app(
    app_id: str,
    metrics_files: Iterable[Path],
    pings_files: Iterable[Path] = (),
    *,
    include_builtins: bool = True,
) -> GleanApp:
    try:
        app = GleanApp(check_app_id(app_id))
    except AppIdError as exc:
        raise GleanDefinitionError(str(exc)) from None
    if include_builtins:
        try:
            app.builtins = glean_builtin.source()
        except glean_builtin.BuiltinsUnavailable as exc:
            raise GleanDefinitionError(str(exc)) from None
        _collect(_parse(list(app.builtins.files), allow_reserved=True), app, builtin=True)
    _collect(_parse(list(metrics_files) + list(pings_files), allow_reserved=False), app)
    return app


def pings_of(metric: Metric, all_pings: Iterable[str]) -> set[str]:
    """The pings a metric is sent in (`all-pings` expands; `default` is the metrics ping)."""
    names: set[str] = set()
    for ping in metric.send_in_pings:
        if ping in ALL_PINGS:
            names.update(all_pings)
        elif ping == "default":
            names.add("events" if metric.type == "event" else "metrics")
        else:
            names.add(ping)
    return names


def is_glean_ping_schema(schema: dict) -> bool:
    """A Glean ping's schema: its table needs per-metric columns that only the app's definitions give.

    Glean-shaped means `client_info` + `ping_info` (the generic Glean schema), or, for pings sent
    without them (glean-min), the `include_info_sections` flag Glean apps' metadata carries.
    """
    props = schema.get("properties")
    if not isinstance(props, dict):
        return False
    if "client_info" in props and "ping_info" in props:
        return True
    meta = schema.get("mozPipelineMetadata")
    return isinstance(meta, dict) and "include_info_sections" in meta and "metrics" in props


def generic_schema(include_info_sections: bool = True, root: Path | None = None) -> dict:
    """The generic Glean ping schema: from `root/glean/glean/` if given, else pingpipe's copy."""
    name = GENERIC_SCHEMA if include_info_sections else GENERIC_MIN_SCHEMA
    if root is not None and (Path(root) / "glean" / "glean" / name).is_file():
        return json.loads((Path(root) / "glean" / "glean" / name).read_text())
    data = resources.files("pingpipe.schemas") / "data" / "glean" / "glean" / name
    return json.loads(data.read_text())


def pipeline_metadata(app: GleanApp, ping: Ping, expiration_days: int | None) -> dict:
    meta: dict = {
        "bq_dataset_family": app.dataset_family,
        "bq_metadata_format": "structured",
        "bq_table": ping_table(ping.name),
    }
    if expiration_days is not None:
        meta["expiration_policy"] = {"delete_after_days": expiration_days}
    meta["include_client_id"] = ping.include_client_id
    meta["include_info_sections"] = ping.include_info_sections
    return meta


def column_schema(
    generic: dict,
    metrics: Iterable[Metric],
    *,
    bug_1737656_affected: bool = False,
) -> dict:
    """The generic schema with each metric type's open map replaced by that type's metrics."""
    schema = copy.deepcopy(generic)
    groups: dict = schema["properties"]["metrics"]["properties"]
    templates = {name: group.get("additionalProperties") for name, group in groups.items()}
    if not bug_1737656_affected:
        for name in BUG_1737656_TYPES:
            if name in groups:
                groups[f"{name}2"] = copy.deepcopy(groups[name])
                templates[f"{name}2"] = templates[name]
    # Which group each metric type fills. Affected tables keep the legacy groups as open maps.
    target = {name: name for name in groups}
    for name in BUG_1737656_TYPES:
        if bug_1737656_affected:
            target.pop(name, None)
        else:
            target[name] = f"{name}2"
    matched_groups = set(target.values())
    if not bug_1737656_affected:
        matched_groups.update(BUG_1737656_TYPES)  # the legacy groups only ever held maps: drop them
    for metric in sorted(metrics, key=lambda m: m.identifier):
        group_name = target.get(metric.type)
        if group_name is None or not isinstance(templates.get(group_name), dict):
            continue  # events live in `events`, and unknown types have no column
        column = copy.deepcopy(templates[group_name])
        column["description"] = metric.description
        groups[group_name].setdefault("properties", {})[metric.identifier] = column
    for group_name in matched_groups:
        group = groups.get(group_name)
        if group is None:
            continue
        group.pop("propertyNames", None)
        group.pop("additionalProperties", None)
        if not group.get("properties"):
            del groups[group_name]
    return schema


def build(
    app: GleanApp,
    *,
    metadata_schema: dict,
    expiration_days: int | None = None,
    ping_expiration: dict[str, int] | None = None,
    bug_1737656_affected: Iterable[str] = (),
    generic_root: Path | None = None,
) -> dict[str, tuple[dict, list[dict]]]:
    """{ping name: (published JSON schema, BigQuery schema)} for every ping of the app.

    `bug_1737656_affected` names the pings whose tables predate Mozilla's bug 1737656 fix and so
    keep `jwe`, `labeled_rate`, `text` and `url` as open maps; only needed to reproduce old tables.
    """
    affected = set(bug_1737656_affected)
    out: dict[str, tuple[dict, list[dict]]] = {}
    all_pings = list(app.pings)
    for ping in app.pings.values():
        days = (ping_expiration or {}).get(ping.name, expiration_days)
        meta = pipeline_metadata(app, ping, days)
        generic = generic_schema(ping.include_info_sections, generic_root)
        published = copy.deepcopy(generic)
        published["mozPipelineMetadata"] = meta
        in_ping = [m for m in app.metrics if ping.name in pings_of(m, all_pings)]
        columns = column_schema(generic, in_ping, bug_1737656_affected=ping.name in affected)
        columns["mozPipelineMetadata"] = {**(generic.get("mozPipelineMetadata") or {}), **meta}
        bq = transpile(merge_metadata(columns, metadata_schema))
        out[ping.name] = (published, bq)
    return out
