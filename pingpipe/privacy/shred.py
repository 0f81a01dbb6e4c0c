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
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pingpipe import faults
from pingpipe.schemas.fields import column_paths
from pingpipe.schemas.names import TableId, family_of, is_live, unversioned

from . import evidence

DELETION_REQUEST = "deletion_request"
SHIPPED_RULES = Path(__file__).with_name("user_ids.yaml")


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


def statements(p: Plan, dry_run: bool, ref=duckdb_ref, verb: str | None = None) -> list[tuple[str, str]]:
    """("dataset.table", SQL) per table and user id to shred: a DELETE, or with dry_run the count
    it would delete (or `verb`, e.g. "SELECT *", of the rows it would). `ref(dataset, table)` writes
    a table's name in the warehouse's SQL."""
    verb = verb or ("SELECT count(*) FROM" if dry_run else "DELETE FROM")
    out = []
    for key, targets in p.targets.items():
        ids = requested_ids(p, key, ref)
        for dataset, name in targets:
            out.append((f"{dataset}.{name}", f"{verb} {ref(dataset, name)} WHERE {key[1]} IN ({ids})"))
    return out


SHREDDED = "_pingpipe.shredded"  # (family, client_id, shredded_at, id_column): the ids processed, for the audit


def requested_ids(p: Plan, key: tuple[str, str], ref=duckdb_ref) -> str:
    """SQL for the user ids that deletion requests name in a (family, column)."""
    return " UNION DISTINCT ".join(f"SELECT {expr} FROM {ref(*table)} WHERE {expr} IS NOT NULL" for table, expr in p.requests[key])


def shred(
    con, tables: dict[tuple[str, str], list[dict]], *, dry_run: bool = False, rules: list[Rule] | None = None, planned: Plan | None = None
) -> dict:
    """Run the plan (`planned`, or the plan of `tables`) on a DuckDB connection (in the caller's transaction);
    rows deleted (or that would be) per table. The ids shredded are recorded in SHREDDED, with the rows' deletion."""
    p = planned if planned is not None else plan(tables, rules)
    done: dict[str, int] = {}
    if not dry_run:  # what the deep audit will look for, recorded before it goes; the ids stay (the audit trail)
        ids = {str(i) for key in p.requests for (i,) in con.execute(requested_ids(p, key)).fetchall()}
        for table, sql in statements(p, dry_run, verb="SELECT * FROM"):
            evidence.record(con, family_of(table.split(".")[0]), con.execute(sql).fetchall(), exclude=ids)
    for table, sql in statements(p, dry_run):
        (n,) = con.execute(sql).fetchone()
        done[table] = done.get(table, 0) + n
        faults.point("shred")  # tests: a crash with some tables deleted, none committed
    if not dry_run and p.requests:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SHREDDED.split('.')[0]}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {SHREDDED} (family VARCHAR, client_id VARCHAR, shredded_at TIMESTAMPTZ)")
        con.execute(f"ALTER TABLE {SHREDDED} ADD COLUMN IF NOT EXISTS id_column VARCHAR")
        for family, column in p.requests:
            con.execute(
                f"INSERT INTO {SHREDDED} SELECT ?, id, now(), ? FROM ({requested_ids(p, (family, column))}) AS r(id) "
                f"WHERE id NOT IN (SELECT client_id FROM {SHREDDED} WHERE family = ? AND id_column IS NOT DISTINCT FROM ?)",
                [family, column, family, column],
            )
    return {"rows": done, "skipped": p.skipped}


def shred_bigquery(
    client,
    project: str,
    tables: dict[tuple[str, str], list[dict]],
    *,
    dry_run: bool = False,
    rules: list[Rule] | None = None,
    planned: Plan | None = None,
) -> dict:
    """The same plan as BigQuery jobs: one DML DELETE (or count) per table, where the data is.

    BigQuery refuses DML over rows streamed in the last minutes (its streaming buffer), which only
    a live table has: that table is reported as deferred, and the next run deletes its rows (the
    requests stay); the other tables are shredded now."""
    from google.api_core.exceptions import BadRequest

    p = planned if planned is not None else plan(tables, rules)
    done: dict[str, int] = {}
    deferred: list[str] = []
    for table, sql in statements(p, dry_run, lambda dataset, name: f"`{project}.{dataset}.{name}`"):
        try:
            job = client.query(sql)
            rows = list(job.result())
        except BadRequest as exc:
            if is_live(TableId.parse(table).dataset) and "streaming buffer" in str(exc):
                deferred.append(table)
                continue
            raise
        done[table] = done.get(table, 0) + (rows[0][0] if dry_run else (job.num_dml_affected_rows or 0))
    return {"rows": done, "skipped": p.skipped, "deferred": deferred}
