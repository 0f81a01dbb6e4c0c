"""Reading BigQuery field lists (a table's schema in BigQuery's JSON form)."""

from __future__ import annotations


def column_paths(fields: list[dict], prefix: str = "") -> set[str]:
    """Every column path of a table, records' own fields dotted (`client_info.client_id`), as SQL names
    them; a REPEATED record is one path (its fields are not columns of the row)."""
    out = set()
    for f in fields:
        path = f"{prefix}{f['name']}"
        out.add(path)
        if f["type"] in ("RECORD", "STRUCT") and f.get("mode") != "REPEATED":
            out |= column_paths(f["fields"], path + ".")
    return out
