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
    tables: dict[str, tuple[list[dict] | None, list[dict] | None]] = {}
    for side, registry in ((0, old), (1, new)):
        for entry in registry:
            pair = list(tables.get(entry.live_table, (None, None)))
            pair[side] = registry.table_schema(entry)
            tables[entry.live_table] = (pair[0], pair[1])
    out = {}
    for table, (before, after) in sorted(tables.items()):
        if before is None:
            out[table] = {"new table": len(column_types(after or []))}
        elif after is None:
            out[table] = {"gone": True}
        else:
            changes = {k: v for k, v in column_diff(before, after).items() if v}
            if changes:
                out[table] = changes
    return out
