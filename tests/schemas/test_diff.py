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


def test_a_registry_change_names_each_table_it_makes_drops_or_changes_and_no_other(tmp_path):
    import json
    import shutil

    from pingpipe.schemas.diff import registry_diff
    from pingpipe.schemas.registry import Registry

    shipped = Registry.load()
    root = tmp_path / "new"
    shutil.copytree(shipped.root, root)
    shutil.rmtree(root / "pingpipe-demo" / "events")
    bq = root / "pingpipe-demo" / "hello" / "hello.1.bq"
    bq.write_text(json.dumps([*json.loads(bq.read_text()), S]))
    assert registry_diff(shipped, Registry.load(root)) == {
        "pingpipe_demo_live.events_v1": {"gone": True},
        "pingpipe_demo_live.hello_v1": {"added": ["s"]},
    }
    assert registry_diff(Registry.load(root), shipped)["pingpipe_demo_live.events_v1"]["new table"] > 10
