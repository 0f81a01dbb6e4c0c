"""The collector settings for long-running processes: fewer collections, and a clean exit."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from pingpipe.gctune import GEN0_THRESHOLD, tune_gc


def test_young_collections_run_far_less_often_and_start_up_objects_are_frozen():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.system
def test_a_process_that_froze_duckdb_objects_exits_without_leak_reports():
    code = (
        "import duckdb; from pingpipe.gctune import tune_gc; con = duckdb.connect(); "
        "con.execute('SELECT 1').fetchall(); tune_gc(); print('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert "leaked" not in r.stderr, r.stderr[-2000:]
