"""Schema evolution: how a table's fields grow when its schema gains fields, for every warehouse.

A table keeps the columns it has, with their types; fields that are new, at any depth, are
appended. Both writers (DuckDB, BigQuery) diff the two schemas with these functions.
"""

from __future__ import annotations

from .tables import quote


def additions(old: list[dict], new: list[dict], prefix: str = "") -> list[tuple[str, dict]]:
    """(column path, field) for every field of `new` missing from `old`, nested ones included."""
    before = {f["name"]: f for f in old}
    out = []
    for field in new:
        path = f"{prefix}{quote(field['name'])}"
        existing = before.get(field["name"])
        if existing is None:
            out.append((path, field))
        elif field["type"] in ("RECORD", "STRUCT") and existing["type"] in ("RECORD", "STRUCT"):
            inner = f"{path}.element." if field.get("mode") == "REPEATED" else f"{path}."
            out += additions(existing["fields"], field["fields"], inner)
    return out


def merge(old: list[dict], new: list[dict]) -> list[dict]:
    """The table's fields after evolution: old ones kept (with their types), new ones appended."""
    by_name = {f["name"]: f for f in new}
    merged = []
    for field in old:
        fresh = by_name.get(field["name"])
        if fresh is not None and field["type"] in ("RECORD", "STRUCT") and fresh["type"] in ("RECORD", "STRUCT"):
            field = {**field, "fields": merge(field["fields"], fresh["fields"])}
        merged.append(field)
    known = {f["name"] for f in old}
    return merged + [f for f in new if f["name"] not in known]
