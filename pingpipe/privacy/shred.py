"""Shredding: the rows of every client that sent a deletion request are deleted from every table of its app.

An app is a dataset family (`<family>_live`, `<family>_stable`). Its deletion requests are the rows
of its `deletion_request` tables (Glean's ping; the SDK sends it when the user turns telemetry
off). A table's user id comes from the rules of user_ids.yaml (shipped; a user adds their own): by
default Glean's `client_info.client_id`, then `client_id`. A table without one is skipped, and
reported so. A rule may also follow a secondary id that a deletion request carries (a uuid or
string metric the app sends in it) into the tables where that id names the user. The
deletion-request rows themselves stay: they are the audit trail.

Deleting is a DELETE … WHERE id IN (the family's requested ids), per table: rerun after a crash,
it deletes what is left and nothing else. Before it, what the rows held is recorded as keyed
hashes (evidence.py), for `pingpipe audit --deep`. On DuckDB a DELETE only marks rows, so the
caller then rewrites the file without them (DuckDBWriter.purge). `plan` and `statements` are
pure; `shred` runs them on DuckDB, `shred_bigquery` as BigQuery DML jobs, one per table.

A run is incremental (`scope`): the ids shredded are recorded (SHREDDED), and so is each run
(SHRED_RUNS). A family with a request not yet shredded has its tables scanned whole; the others only
from LATE_DAYS before the last run, by their partition column, for the late rows of clients
already gone. Every FULL_EVERY_DAYS (or `--full`) a run scans everything, for rows that reach an
older partition some other way (a replay, a backfill).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pingpipe import faults, utc
from pingpipe.schemas.fields import column_paths
from pingpipe.schemas.names import (
    DELETED,
    DELETED_COLUMNS,
    DELETED_DDL,
    SHRED_RUNS,
    SHREDDED,
    SUBMISSION_DATE,
    SUBMISSION_TIMESTAMP,
    TableId,
    family_of,
    is_live,
    unversioned,
)

from . import evidence

DELETION_REQUEST = "deletion_request"
SHIPPED_RULES = Path(__file__).with_name("user_ids.yaml")
DATED = (SUBMISSION_TIMESTAMP, SUBMISSION_DATE)  # a table's partition column, the first it has
LATE_DAYS = 8  # how long before a run a row may still land: Pub/Sub keeps 7 days, the cycle catches up 7
FULL_EVERY_DAYS = 28  # Mozilla's shredder's cadence
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class RulesError(ValueError):
    """A user-id rules file pingpipe cannot read; the message names the file and the fault."""


@dataclass(frozen=True)
class Rule:
    """Tables of the families matching `family` (fnmatch) that have `column` keep the user id there.

    With `request`, a secondary id (Glean's "secondary ids in the deletion-request ping"): the ids
    that the deletion requests of the families matching `requests` carry at `request` name users
    in those tables' `column`."""

    family: str
    column: str
    request: str | None = None
    requests: str = "*"


_RULE_SHAPE = "{family: PATTERN, column: PATH} or {family: PATTERN, column: PATH, request: PATH[, requests: PATTERN]}"


def load_rules(extra: Path | None = None) -> list[Rule]:
    """The rules of a user's file first, then the shipped ones."""
    rules = []
    for path in ([extra] if extra else []) + [SHIPPED_RULES]:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise RulesError(f"{path}: {exc}") from None
        rules += parse_rules(text, str(path))
    return rules


def parse_rules(text: str, source: str) -> list[Rule]:
    """The rules of one YAML text (`source` names it in errors)."""
    try:
        entries = yaml.safe_load(text) or []
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: {exc}") from None
    rules = []
    for i, entry in enumerate(entries if isinstance(entries, list) else [None]):
        if not (
            isinstance(entry, dict)
            and {"family", "column"} <= entry.keys() <= {"family", "column", "request", "requests"}
            and all(isinstance(v, str) for v in entry.values())
        ):
            raise RulesError(f"{source}: entry {i} must be {_RULE_SHAPE}")
        bad = next((v for k, v in entry.items() if k in ("column", "request") and not _PATH.fullmatch(v)), None)
        if bad is not None:
            raise RulesError(f"{source}: entry {i}: {bad!r} is not a column path (names and dots)")
        rules.append(Rule(**entry))
    return rules


@dataclass
class Plan:
    """Per (family, user-id column): the sources of the ids to delete, and the tables to delete them from.

    A source is a deletion-request table and where it carries the id: the family's own requests
    (its user id), or another family's (a secondary id)."""

    requests: dict[tuple[str, str], list[tuple[tuple[str, str], str]]] = field(default_factory=dict)
    targets: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # tables of a family with requests, but no user id
    dated: dict[tuple[str, str], str] = field(default_factory=dict)  # a target's partition column (DATED)


@dataclass(frozen=True)
class Scope:
    """What one run scans: every partition (`since` None), or only those from `since`, except the
    tables of the `fresh` families (with a request not shredded yet), which are scanned whole."""

    since: dt.date | None = None
    fresh: frozenset[str] = frozenset()

    def describe(self) -> str:
        return "every partition" if self.since is None else f"partitions from {self.since}, whole tables for new requests"


def scope(
    today: dt.date,
    runs: tuple[dt.datetime | None, dt.datetime | None],
    fresh: set[str],
    full: bool = False,
    since: dt.date | None = None,
) -> Scope:
    """The scope of a run `today`, given when the last run and the last full one finished (SHRED_RUNS);
    `since`: rows were written into partitions from that day on (a replay), so they are read too."""
    last, last_full = (utc.day_of(t) if t is not None else None for t in runs)
    if full or last is None or last_full is None or (today - last_full).days >= FULL_EVERY_DAYS:
        return Scope(None, frozenset(fresh))
    return Scope(min(last - dt.timedelta(days=LATE_DAYS), since or today), frozenset(fresh))


def user_id(fields: list[dict], family: str = "", rules: list[Rule] | None = None) -> str | None:
    """The column path (also its SQL) of a table's user id, or None if no rule gives it one."""
    have = column_paths(fields)
    rules = rules if rules is not None else load_rules()
    return next((r.column for r in rules if r.request is None and fnmatch.fnmatchcase(family, r.family) and r.column in have), None)


def plan(tables: dict[tuple[str, str], list[dict]], rules: list[Rule] | None = None) -> Plan:
    """What to shred, given every table's (dataset, name) and fields, and the user-id rules."""
    rules = rules if rules is not None else load_rules()
    secondary = [r for r in rules if r.request is not None]
    result, candidates, no_id = Plan(), [], []
    for (dataset, name), fields in sorted(tables.items()):
        family = family_of(dataset)
        if family is None:
            continue
        table, have, expr = (dataset, name), column_paths(fields), user_id(fields, family, rules)
        if unversioned(name) == DELETION_REQUEST:
            if expr:
                result.requests.setdefault((family, expr), []).append((table, expr))
            for r in secondary:
                if fnmatch.fnmatchcase(family, r.requests) and r.request in have:
                    candidates.append((r, table))
            continue
        ids = {expr} if expr else set()
        ids |= {r.column for r in secondary if fnmatch.fnmatchcase(family, r.family) and r.column in have}
        for column in sorted(ids):
            result.targets.setdefault((family, column), []).append(table)
        dated = next((c for c in DATED if c in have), None)
        if ids and dated:
            result.dated[table] = dated
        if not ids:
            no_id.append(table)
    for r, source in candidates:  # a secondary id reaches every family its rule names
        for family, column in list(result.targets):
            if column == r.column and fnmatch.fnmatchcase(family, r.family):
                result.requests.setdefault((family, column), []).append((source, r.request))
    result.targets = {k: t for k, t in result.targets.items() if k in result.requests}
    asked = {family for family, _ in result.requests}
    result.skipped = [f"{d}.{n}" for d, n in no_id if family_of(d) in asked]
    return result


def duckdb_ref(dataset: str, name: str) -> str:
    return f'"{dataset}"."{name}"'


def statements(p: Plan, dry_run: bool, ref=duckdb_ref, verb: str | None = None, within: Scope = Scope()) -> list[tuple[str, str]]:
    """("dataset.table", SQL) per table and user id to shred: a DELETE, or with dry_run the count
    it would delete (or `verb`, e.g. "SELECT *", of the rows it would), over the partitions of
    `within`. `ref(dataset, table)` writes a table's name in the warehouse's SQL."""
    verb = verb or ("SELECT count(*) FROM" if dry_run else "DELETE FROM")
    out = []
    for key, targets in p.targets.items():
        ids = requested_ids(p, key, ref)
        for dataset, name in targets:
            where, dated = f"{key[1]} IN ({ids})", p.dated.get((dataset, name))
            if within.since is not None and key[0] not in within.fresh and dated:
                since = utc.timestamp(utc.bounds(within.since)[0]) if dated == SUBMISSION_TIMESTAMP else within.since.isoformat()
                where = f"{dated} >= '{since}' AND {where}"  # a literal, so that BigQuery prunes partitions
            out.append((f"{dataset}.{name}", f"{verb} {ref(dataset, name)} WHERE {where}"))
    return out


def new_ids(p: Plan, key: tuple[str, str], ref=duckdb_ref) -> str:
    """SQL for the ids a (family, column)'s requests name that no run has shredded yet."""
    family, column = key
    done = f"SELECT client_id FROM {ref(*SHREDDED.split('.'))} WHERE family = '{family}' AND id_column = '{column}'"
    return f"SELECT id FROM ({requested_ids(p, key, ref)}) AS r(id) WHERE id NOT IN ({done})"


def fresh_sql(p: Plan, ref=duckdb_ref) -> str | None:
    """SQL for the families with a request no run has shredded yet (their tables are scanned whole)."""
    parts = [f"SELECT '{family}' FROM ({new_ids(p, (family, column), ref)}) LIMIT 1" for family, column in p.requests]
    return " UNION DISTINCT ".join(f"({part})" for part in parts) or None


def runs_sql(ref=duckdb_ref) -> str:
    """SQL for the last run's time and the last full run's (SHRED_RUNS)."""
    return f"SELECT max(ran_at), max(CASE WHEN full_scan THEN ran_at END) FROM {ref(*SHRED_RUNS.split('.'))}"


def requested_ids(p: Plan, key: tuple[str, str], ref=duckdb_ref) -> str:
    """SQL for the user ids that deletion requests name in a (family, column)."""
    return " UNION DISTINCT ".join(f"SELECT {expr} FROM {ref(*table)} WHERE {expr} IS NOT NULL" for table, expr in p.requests[key])


def record_sql(p: Plan, key: tuple[str, str], ref=duckdb_ref) -> str:
    """SQL that records a (family, column)'s new ids as shredded (SHREDDED), after their rows went."""
    family, column = key
    return (
        f"INSERT INTO {ref(*SHREDDED.split('.'))} (family, client_id, shredded_at, id_column) "
        f"SELECT '{family}', id, CURRENT_TIMESTAMP, '{column}' FROM ({new_ids(p, key, ref)})"
    )


def run_sql(within: Scope, ref=duckdb_ref) -> str:
    """SQL that records a run (SHRED_RUNS), its last step."""
    return f"INSERT INTO {ref(*SHRED_RUNS.split('.'))} (ran_at, full_scan) VALUES (CURRENT_TIMESTAMP, {within.since is None})"


def record_deleted(con, table: str, columns: list[str], rows: list[tuple], reason: str) -> set[str]:
    """Record what `trace` and `stats` keep of rows of `table` about to be deleted (DELETED_COLUMNS of
    them, the ones it has: no content), given the rows with their `columns`; their document ids."""
    at = [columns.index(c) if c in columns else None for c in DELETED_COLUMNS]
    if at[0] is None or not rows:
        return set()
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DELETED.split('.')[0]}")
    con.execute(DELETED_DDL)
    kept = [[row[i] if i is not None else None for i in at] for row in rows]
    con.execute(
        f"INSERT INTO {DELETED} SELECT ?, ?, now(), "
        "unnest(?::VARCHAR[]), unnest(?::TIMESTAMPTZ[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
        [table, reason, *map(list, zip(*kept, strict=True))],
    )
    return {str(row[0]) for row in kept if row[0] is not None}


def shred(
    con,
    tables: dict[tuple[str, str], list[dict]],
    *,
    dry_run: bool = False,
    rules: list[Rule] | None = None,
    planned: Plan | None = None,
    full: bool = False,
    since: dt.date | None = None,
) -> dict:
    """Run the plan (`planned`, or the plan of `tables`) on a DuckDB connection (in the caller's transaction),
    over its `scope` (everything with `full`; from `since` at least); rows deleted (or that would be)
    per table. The ids shredded and the run are recorded with the rows' deletion."""
    p = planned if planned is not None else plan(tables, rules)
    if not dry_run and p.requests:
        schema = SHREDDED.split(".")[0]
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {SHREDDED} (family VARCHAR, client_id VARCHAR, shredded_at TIMESTAMPTZ)")
        con.execute(f"ALTER TABLE {SHREDDED} ADD COLUMN IF NOT EXISTS id_column VARCHAR")
        con.execute(f"CREATE TABLE IF NOT EXISTS {SHRED_RUNS} (ran_at TIMESTAMPTZ, full_scan BOOLEAN)")
    held = {
        f"{s}.{t}"
        for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()
    }
    fresh = fresh_sql(p) if SHREDDED in held else None
    within = scope(
        utc.today(),
        con.execute(runs_sql()).fetchone() if SHRED_RUNS in held else (None, None),
        {f for (f,) in con.execute(fresh).fetchall()} if fresh else {f for f, _ in p.requests},
        full,
        since,
    )
    done: dict[str, int] = {}
    if not dry_run:  # what the deep audit will look for, recorded before it goes; the ids stay (the audit trail)
        ids = {str(i) for key in p.requests for (i,) in con.execute(requested_ids(p, key)).fetchall()}
        for table, sql in statements(p, dry_run, verb="SELECT * FROM", within=within):
            cursor = con.execute(sql)
            columns, rows = [d[0] for d in cursor.description], cursor.fetchall()
            kept = record_deleted(con, table, columns, rows, "shredded")  # what is kept of them is no trace
            evidence.record(con, family_of(table.split(".")[0]), rows, exclude=ids | kept)
    for table, sql in statements(p, dry_run, within=within):
        (n,) = con.execute(sql).fetchone()
        done[table] = done.get(table, 0) + n
        faults.point("shred")  # tests: a crash with some tables deleted, none committed
    if not dry_run and p.requests:
        for key in p.requests:
            con.execute(record_sql(p, key))
        con.execute(run_sql(within))
    return {"rows": done, "skipped": p.skipped, "scope": within.describe()}


def shred_bigquery(
    client,
    project: str,
    tables: dict[tuple[str, str], list[dict]],
    *,
    dry_run: bool = False,
    rules: list[Rule] | None = None,
    planned: Plan | None = None,
    full: bool = False,
    since: dt.date | None = None,
) -> dict:
    """The same plan and scope as BigQuery jobs: one DML DELETE (or count) per table, where the data is.

    BigQuery refuses DML over rows streamed in the last minutes (its streaming buffer), which only
    a live table has: that table is reported as deferred, and the next run deletes its rows (the
    requests stay, and their ids are not recorded, so that it scans the table whole); the other
    tables are shredded now. The bookkeeping dataset (META_DATASET) is the caller's to make, where
    the project's datasets are."""
    from google.api_core.exceptions import BadRequest, NotFound
    from google.cloud import bigquery

    def ref(dataset: str, name: str) -> str:
        return f"`{project}.{dataset}.{name}`"

    def result(sql: str) -> list:
        return list(client.query(sql).result())

    p = planned if planned is not None else plan(tables, rules)
    registry = {
        SHREDDED: [("family", "STRING"), ("client_id", "STRING"), ("shredded_at", "TIMESTAMP"), ("id_column", "STRING")],
        SHRED_RUNS: [("ran_at", "TIMESTAMP"), ("full_scan", "BOOL")],
    }
    held = set()
    for name, columns in registry.items():
        try:
            if dry_run or not p.requests:
                client.get_table(f"{project}.{name}")
            else:
                schema = [bigquery.SchemaField(c, t) for c, t in columns]
                client.create_table(bigquery.Table(f"{project}.{name}", schema=schema), exists_ok=True)
            held.add(name)
        except NotFound:
            pass
    fresh = fresh_sql(p, ref) if SHREDDED in held else None
    runs = next(iter(result(runs_sql(ref))), (None, None)) if SHRED_RUNS in held else (None, None)
    within = scope(utc.today(), runs, {f for (f,) in result(fresh)} if fresh else {f for f, _ in p.requests}, full, since)
    done: dict[str, int] = {}
    deferred: list[str] = []
    for table, sql in statements(p, dry_run, ref, within=within):
        try:
            job = client.query(sql)
            rows = list(job.result())
        except BadRequest as exc:
            if is_live(TableId.parse(table).dataset) and "streaming buffer" in str(exc):
                deferred.append(table)
                continue
            raise
        done[table] = done.get(table, 0) + (rows[0][0] if dry_run else (job.num_dml_affected_rows or 0))
    if not dry_run and p.requests:
        late = {family_of(TableId.parse(t).dataset) for t in deferred}
        for key in p.requests:
            if key[0] not in late:
                result(record_sql(p, key, ref))
        result(run_sql(within, ref))
    return {"rows": done, "skipped": p.skipped, "deferred": deferred, "scope": within.describe()}
