"""Every name pingpipe gives: message attributes, datasets, tables and views. Nothing else builds one.

Mozilla's layout, which ingestion-beam names in one place (`Constant.Attribute`, and
`KeyByBigQueryTableDestination` for tables): an app's datasets are its family with a suffix,
`<family>_live` (rows as they arrive), `<family>_stable` (one row per document, a day at a time),
`<family>_derived` (the ETL's tables), and `<family>` itself for the views people query. Errors go
to two fixed tables. A family comes from a registry entry or an application id, never from request
text. This module imports nothing of pingpipe, so every stage (the edge too) can use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Message attributes, and the columns of the same name (ingestion-core's Constant.Attribute).
SUBMISSION_TIMESTAMP = "submission_timestamp"
SUBMISSION_DATE = "submission_date"  # its UTC day: the column derived tables are partitioned by
DOCUMENT_ID = "document_id"
DOCUMENT_NAMESPACE = "document_namespace"
DOCUMENT_TYPE = "document_type"
DOCUMENT_VERSION = "document_version"
URI = "uri"

# A family's datasets: <family><suffix>; its views are in <family>.
LIVE = "_live"
STABLE = "_stable"
DERIVED = "_derived"
LOGS = "_logs"  # a service's usage-log family: <service>_logs (its tables: <service>_logs_live.<Type>)
ERROR_DATASET = "payload_bytes_error"
META_DATASET = "_pingpipe"  # pingpipe's own bookkeeping (days cycled, segments committed): no app's rows
CYCLES = f"{META_DATASET}.cycles"  # each daily cycle's report, by the day it ran for
SHREDDED = f"{META_DATASET}.shredded"  # each user id a shred processed, for the audit and the next run
SHRED_RUNS = f"{META_DATASET}.shred_runs"  # when each shred ran, and whether it scanned every partition
# Each row a shred or expiry deleted: its id, day and namespace/doctype only, when and why (`trace`, `stats`).
DELETED = f"{META_DATASET}.deleted_documents"
DELETED_COLUMNS = (DOCUMENT_ID, SUBMISSION_TIMESTAMP, DOCUMENT_NAMESPACE, DOCUMENT_TYPE)  # what is kept of a deleted row
DELETED_DDL = (
    f"CREATE TABLE IF NOT EXISTS {DELETED} (table_name VARCHAR, reason VARCHAR, deleted_at TIMESTAMPTZ, "
    f"{DOCUMENT_ID} VARCHAR, {SUBMISSION_TIMESTAMP} TIMESTAMPTZ, {DOCUMENT_NAMESPACE} VARCHAR, {DOCUMENT_TYPE} VARCHAR)"
)
REPLAYS = f"{META_DATASET}.replays"  # each document a replay recovered: when, from which error row, into which table

_VERSION = re.compile(r"_v[0-9]+$")

# What application ids are made of on every platform Glean runs on (Android package names, Apple
# bundle ids, the ids of Glean.js and server apps). Glean folds anything else into "-" as well, but
# then two different ids share a namespace, and text like quotes, "<", "/" or spaces is no name.
_APP_ID = re.compile(r"[A-Za-z0-9._-]+")
APP_ID_RULE = "ASCII letters, digits, '.', '-' and '_', with at least one letter or digit"


@dataclass(frozen=True)
class TableId:
    dataset: str
    table: str

    @classmethod
    def parse(cls, qualified: str) -> "TableId":
        dataset, _, table = qualified.partition(".")
        return cls(dataset, table)

    def __str__(self) -> str:
        return f"{self.dataset}.{self.table}"


class AppIdError(ValueError):
    pass


def check_app_id(app_id: str) -> str:
    """The id unchanged, if it is one to name namespaces and datasets after; else AppIdError (one line)."""
    if not (_APP_ID.fullmatch(app_id) and re.search(r"[A-Za-z0-9]", app_id)):
        raise AppIdError(f"{app_id!r} is not an application id: use {APP_ID_RULE} (e.g. org.example.app)")
    return app_id


def glean_namespace(app_id: str) -> str:
    """The document namespace the Glean SDK sends: glean-core's sanitize_application_id (ASCII letters
    and digits, lowercased; each run of anything else one "-")."""
    return re.sub(r"[^A-Za-z0-9]+", "-", app_id).lower()


def dataset_family(namespace: str) -> str:
    """`<family>_live`, `<family>_stable`, `<family>_derived`, `<family>`: the namespace with "-" as "_",
    as Mozilla names a Glean app's datasets."""
    return namespace.replace("-", "_")


def sanitize_identifier(text: str) -> str:
    """A BigQuery-safe identifier piece (letters, digits, underscores)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return f"_{cleaned}" if cleaned[:1].isdigit() else cleaned


def versioned_table(doctype: str, version: int) -> str:
    """A document type's table: `<doctype>_v<version>`, as the transpiler's tables are named."""
    return f"{sanitize_identifier(doctype)}_v{version}"


def unversioned(table: str) -> str:
    """A table's name without its `_vN`: its document type's, and its view's."""
    return _VERSION.sub("", table)


def live_dataset(family: str) -> str:
    return family + LIVE


def stable_dataset(family: str) -> str:
    return family + STABLE


def derived_dataset(family: str) -> str:
    return family + DERIVED


def live_table(family: str, table: str) -> TableId:
    return TableId(live_dataset(family), table)


def family_of(dataset: str) -> str | None:
    """The family of a live, stable or derived dataset; None for any other (views, errors)."""
    for suffix in (LIVE, STABLE, DERIVED):
        if dataset.endswith(suffix):
            return dataset[: -len(suffix)]
    return None


def is_live(dataset: str) -> bool:
    return dataset.endswith(LIVE)


def stable_of(live: TableId) -> TableId | None:
    """Where a live table's deduplicated copy goes: the same table in `<family>_stable`; None if not live."""
    if not is_live(live.dataset):
        return None
    return TableId(stable_dataset(live.dataset[: -len(LIVE)]), live.table)


def live_of(table: TableId) -> TableId | None:
    """The live table a live or stable table is (a copy of); None for any other."""
    for suffix in (LIVE, STABLE):
        if table.dataset.endswith(suffix):
            return live_table(table.dataset[: -len(suffix)], table.table)
    return None


def view_of(table: TableId) -> TableId:
    """The view people query for a live or stable table: `<family>.<table without _vN>`."""
    family = family_of(table.dataset)
    return TableId(table.dataset if family is None else family, unversioned(table.table))


def error_table(namespace: str | None) -> TableId:
    """Where a message that became an error goes: Mozilla's two tables, by namespace."""
    return TableId(ERROR_DATASET, "telemetry" if namespace == "telemetry" else "structured")


def is_error_table(table: TableId) -> bool:
    return table.dataset == ERROR_DATASET


_STAGED = "replay_"


def staged(run: str, table: TableId) -> TableId:
    """Where a BigQuery replay (`run`, letters and digits) writes what it makes for `table` until it
    commits: a table of the bookkeeping dataset, which no cycle, shred or listing reads."""
    return TableId(META_DATASET, f"{_STAGED}{run}__{table.dataset}__{table.table}")


def staged_for(run: str, staging: TableId) -> TableId | None:
    """The table a staged table of `run` is for (`staged`'s inverse); None for any other table."""
    prefix = f"{_STAGED}{run}__"
    if staging.dataset != META_DATASET or not staging.table.startswith(prefix):
        return None
    dataset, _, table = staging.table[len(prefix) :].partition("__")
    return TableId(dataset, table) if table else None


def logs_family(service: str) -> str:
    """A service's usage-log family: `<service>_logs`, `-` as `_`."""
    return sanitize_identifier(service) + LOGS


def is_logs_live(dataset: str) -> bool:
    """Whether a dataset holds a service's usage-log tables."""
    return dataset.endswith(LOGS + LIVE)
