"""Shredding: the rows of every client that sent a deletion request are deleted from every table of its app.

An app is a dataset family (`<family>_live`, `<family>_stable`). Its deletion requests are the rows
of its `deletion_request` tables (Glean's ping; the SDK sends it when the user turns telemetry
off). A table's user id comes from the rules of user_ids.yaml (shipped; a user adds their own): by
default Glean's `client_info.client_id`, then `client_id`. A table without one is skipped, and
reported so. The deletion-request
rows themselves stay: they are the audit trail.

Deleting is a DELETE … WHERE id IN (the family's requested ids), per table: rerun after a crash,
it deletes what is left and nothing else; no table is rewritten. `plan` and `statements` are pure;
`shred` runs them on DuckDB, `shred_bigquery` as BigQuery DML jobs, one per table.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DELETION_REQUEST = "deletion_request"
SHIPPED_RULES = Path(__file__).with_name("user_ids.yaml")


class RulesError(ValueError):
    """A user-id rules file pingpipe cannot read; the message names the file and the fault."""


def load_rules(extra: Path | None = None) -> list[tuple[str, str]]:
    """(family pattern, column path) rules: the file's first, then the shipped ones."""
    rules = []
    for path in ([extra] if extra else []) + [SHIPPED_RULES]:
        try:
            entries = yaml.safe_load(Path(path).read_text()) or []
        except (OSError, yaml.YAMLError) as exc:
            raise RulesError(f"{path}: {exc}") from None
        for i, entry in enumerate(entries if isinstance(entries, list) else [None]):
            if not (isinstance(entry, dict) and isinstance(entry.get("family"), str) and isinstance(entry.get("column"), str)):
                raise RulesError(f"{path}: entry {i} must be {{family: PATTERN, column: PATH}}")
            rules.append((entry["family"], entry["column"]))
    return rules


@dataclass
class Plan:
    """Per family: the deletion-request tables, and each other table with its user-id expression."""

    requests: dict[str, list[tuple[tuple[str, str], str]]] = field(default_factory=dict)  # family -> [((ds, t), id expr)]
    targets: dict[str, list[tuple[tuple[str, str], str]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # tables of a family with requests, but no user id


def _paths(fields: list[dict], prefix: str = "") -> set[str]:
    out = set()
    for f in fields:
        path = f"{prefix}{f['name']}"
        out.add(path)
        if f["type"] in ("RECORD", "STRUCT") and f.get("mode") != "REPEATED":
            out |= _paths(f["fields"], path + ".")
    return out


def user_id(fields: list[dict], family: str = "", rules: list[tuple[str, str]] | None = None) -> str | None:
    """The column path (also its SQL) of a table's user id, or None if no rule gives it one."""
    paths = _paths(fields)
    rules = rules if rules is not None else load_rules()
    return next((column for pattern, column in rules if fnmatch.fnmatchcase(family, pattern) and column in paths), None)


def family_of(dataset: str) -> str | None:
    for suffix in ("_live", "_stable"):
        if dataset.endswith(suffix):
            return dataset[: -len(suffix)]
    return None


def plan(tables: dict[tuple[str, str], list[dict]], rules: list[tuple[str, str]] | None = None) -> Plan:
    """What to shred, given every table's (dataset, name) and fields, and the user-id rules."""
    rules = rules if rules is not None else load_rules()
    result = Plan()
    for (dataset, name), fields in sorted(tables.items()):
        family = family_of(dataset)
        if family is None:
            continue
        expr = user_id(fields, family, rules)
        table = (dataset, name)
        if name.rsplit("_v", 1)[0] == DELETION_REQUEST:
            if expr:
                result.requests.setdefault(family, []).append((table, expr))
        elif expr:
            result.targets.setdefault(family, []).append((table, expr))
        else:
            result.skipped.append(f"{dataset}.{name}")
    result.skipped = [t for t in result.skipped if family_of(t.split(".")[0]) in result.requests]
    result.targets = {f: t for f, t in result.targets.items() if f in result.requests}
    return result


def duckdb_ref(dataset: str, name: str) -> str:
    return f'"{dataset}"."{name}"'


def statements(p: Plan, dry_run: bool, ref=duckdb_ref) -> list[tuple[str, str]]:
    """("dataset.table", SQL) per table to shred: a DELETE, or with dry_run the count it would delete.
    `ref(dataset, table)` writes a table's name in the warehouse's SQL."""
    out = []
    for family, targets in p.targets.items():
        ids = requested_ids(p, family, ref)
        for (dataset, name), expr in targets:
            table, where = ref(dataset, name), f"{expr} IN ({ids})"
            sql = f"SELECT count(*) FROM {table} WHERE {where}" if dry_run else f"DELETE FROM {table} WHERE {where}"
            out.append((f"{dataset}.{name}", sql))
    return out


SHREDDED = "_pingpipe.shredded"  # (family, client_id, shredded_at): the requests processed, for the audit


def requested_ids(p: Plan, family: str, ref=duckdb_ref) -> str:
    """SQL for the user ids a family's deletion requests name."""
    return " UNION DISTINCT ".join(f"SELECT {expr} FROM {ref(*table)} WHERE {expr} IS NOT NULL"
                                   for table, expr in p.requests[family])


def shred(con, tables: dict[tuple[str, str], list[dict]], *, dry_run: bool = False,
          rules: list[tuple[str, str]] | None = None) -> dict:
    """Run the plan on a DuckDB connection (in the caller's transaction); rows deleted (or that would be)
    per table. The ids shredded are recorded in SHREDDED, with the rows' deletion."""
    p = plan(tables, rules)
    done: dict[str, int] = {}
    for table, sql in statements(p, dry_run):
        (n,) = con.execute(sql).fetchone()
        done[table] = n
    if not dry_run and p.requests:
        con.execute(f"CREATE TABLE IF NOT EXISTS {SHREDDED} (family VARCHAR, client_id VARCHAR, shredded_at TIMESTAMPTZ)")
        for family in p.requests:
            con.execute(f"INSERT INTO {SHREDDED} SELECT ?, id, now() FROM ({requested_ids(p, family)}) AS r(id) "
                        f"WHERE id NOT IN (SELECT client_id FROM {SHREDDED} WHERE family = ?)", [family, family])
    return {"rows": done, "skipped": p.skipped}


def shred_bigquery(client, project: str, tables: dict[tuple[str, str], list[dict]], *, dry_run: bool = False,
                   rules: list[tuple[str, str]] | None = None) -> dict:
    """The same plan as BigQuery jobs: one DML DELETE (or count) per table, where the data is."""
    p = plan(tables, rules)
    done: dict[str, int] = {}
    for table, sql in statements(p, dry_run, lambda dataset, name: f"`{project}.{dataset}.{name}`"):
        job = client.query(sql)
        rows = list(job.result())
        done[table] = rows[0][0] if dry_run else (job.num_dml_affected_rows or 0)
    return {"rows": done, "skipped": p.skipped}
