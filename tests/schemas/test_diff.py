"""`schemas diff`'s column report (schemas/diff.py): what a schema change adds, removes and retypes."""

from __future__ import annotations

from pingpipe.schemas.diff import column_diff

S = {"name": "s", "type": "STRING", "mode": "NULLABLE"}


def test_a_change_names_each_column_path_added_removed_and_retyped_inside_records_too():
    old = [S, {"name": "r", "type": "RECORD", "fields": [{"name": "a", "type": "INT64"}, {"name": "b", "type": "STRING"}]}]
    new = [
        {"name": "s", "type": "STRING", "mode": "REPEATED"},
        {"name": "r", "type": "RECORD", "fields": [{"name": "a", "type": "FLOAT64"}, {"name": "c", "type": "BOOL"}]},
        {"name": "t", "type": "DATE"},
    ]
    assert column_diff(old, new) == {
        "added": ["r.c", "t"],
        "removed": ["r.b"],
        "retyped": ["r.a: INT64 -> FLOAT64", "s: STRING -> STRING REPEATED"],
    }
    assert column_diff(new, new) == {"added": [], "removed": [], "retyped": []}
