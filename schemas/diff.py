"""What a schema change does to the tables: per live table, the columns it adds, removes and retypes.

Pure: two registries in, a report out (`pingpipe schemas diff OLD NEW`). What it would do to the
error rows is replay's dry run with the new registry (pingpipe/up/replay.py), so that the
prediction is the outcome.
"""

from __future__ import annotations

from .registry import Registry


def column_types(fields: list[dict], prefix: str = "") -> dict[str, str]:
    """Every column path (records' fields dotted) and its type, REPEATED marked."""
    out = {}
    for f in fields:
        path = f"{prefix}{f['name']}"
        out[path] = f["type"] + (" REPEATED" if f.get("mode") == "REPEATED" else "")
        if f["type"] in ("RECORD", "STRUCT"):
            out |= column_types(f.get("fields", []), path + ".")
    return out


def column_diff(old: list[dict], new: list[dict]) -> dict[str, list[str]]:
    """The paths `new` adds and removes, and those whose type changes (as "path: OLD -> NEW")."""
    before, after = column_types(old), column_types(new)
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "retyped": sorted(f"{p}: {before[p]} -> {after[p]}" for p in before.keys() & after.keys() if before[p] != after[p]),
    }


def registry_diff(old: Registry, new: Registry) -> dict[str, dict]:
    """Per live table of either registry (`dataset.table`), what changes: "new table", "gone", or its
    column_diff when anything does; tables that do not change are left out."""
    before = {entry.live_table: old.table_schema(entry) for entry in old}
    after = {entry.live_table: new.table_schema(entry) for entry in new}
    out = {}
    for table in sorted(before.keys() | after.keys()):
        if table not in before:
            out[table] = {"new table": len(column_types(after[table]))}
        elif table not in after:
            out[table] = {"gone": True}
        elif changes := {kind: paths for kind, paths in column_diff(before[table], after[table]).items() if paths}:
            out[table] = changes
    return out
