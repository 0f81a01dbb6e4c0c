"""Data checks in bigquery-etl's syntax: a `checks.sql` beside a query, each check marked `#fail`
(the table's day fails, and the tables that read it do not run for that day) or `#warn` (reported
and recorded only). A check is one SELECT that raises ERROR() when it fails; the macros of
templates/checks/macros.sql (not_null, is_unique, min_row_count, in_range, accepted_values,
matches_pattern, row_count_within_past_partitions_avg) write the usual ones. Pure: rendering and
splitting here; running on DuckDB in run.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2

from .queries import Query, QueryError
from .templates import environment

FAIL, WARN = "fail", "warn"
MACROS = (
    "not_null",
    "is_unique",
    "min_row_count",
    "in_range",
    "accepted_values",
    "matches_pattern",
    "row_count_within_past_partitions_avg",
)
_MARKER = re.compile(r"^[ \t]*#(fail|warn)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Check:
    table: str
    marker: str  # FAIL or WARN
    number: int  # its place in checks.sql, from 1
    sql: str  # BigQuery SQL, with the query's date parameter unbound

    @property
    def name(self) -> str:
        return f"{self.table} check {self.number} (#{self.marker})"


def checks_of(q: Query) -> list[Check]:
    """The checks of `q`'s checks.sql, rendered with the macros (`table` is q's dataset.table).
    A check without a marker, or a file that does not render, raises QueryError naming the file."""
    if not q.checks:
        return []
    where = q.checks_path or f"{q.path} (checks)"
    context = {"table": q.name, "dataset_id": q.dataset, "table_name": q.table}
    try:
        macros = environment().get_template("checks/macros.sql").make_module(context)
        named = {m: getattr(macros, m) for m in MACROS}
        text = environment().from_string(q.checks).render(**context, **named)
    except jinja2.TemplateError as exc:
        raise QueryError(where, f"does not render: {exc}") from None
    text = re.sub(r"^[ \t]*--.*$", "", text, flags=re.MULTILINE)  # comments between checks
    parts = _MARKER.split(text)
    if parts[0].strip():
        raise QueryError(where, "each check follows a line #fail or #warn")
    out = []
    for i in range(1, len(parts), 2):
        for statement in (s.strip() for s in parts[i + 1].split(";")):
            if statement:
                out.append(Check(q.name, parts[i], len(out) + 1, statement))
    return out
