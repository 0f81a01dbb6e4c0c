"""The dictionary's catalog, in memory: apps, pings, metrics and the exact table and column each lands in."""

from __future__ import annotations

import shutil

import pytest

from pingpipe.dictionary import catalog
from pingpipe.schemas.registry import Registry


@pytest.fixture(scope="module")
def shipped() -> catalog.Dictionary:
    return catalog.for_registry(Registry.load())


@pytest.fixture(scope="module")
def structured(registry_root) -> catalog.Dictionary:
    """The test schemas (structured namespaces, their .bq as `schemas build` made them) beside the shipped ones."""
    return catalog.for_registry(Registry.load(registry_root))


def test_the_demo_app_is_a_glean_app_with_its_own_and_gleans_builtin_metrics(shipped):
    app = shipped.apps["pingpipe-demo"]
    assert app.kind == "glean"
    assert {"hello", "baseline", "metrics", "events", "deletion-request"} <= set(app.pings)
    assert not app.metrics["demo.launches"].builtin and app.metrics["glean.validation.shutdown_wait"].builtin
    assert "metadata" not in shipped.apps and "glean" not in shipped.apps  # the pipeline's own schemas


@pytest.mark.parametrize(
    "metric, ping, column",
    [
        ("demo.launches", "hello", "metrics.counter.demo_launches"),
        ("demo.button_clicks", "hello", "metrics.labeled_counter.demo_button_clicks"),
        ("demo.page_load", "metrics", "metrics.timing_distribution.demo_page_load"),
        ("demo.button_pressed", "events", "events"),
    ],
)
def test_a_metric_names_the_table_and_column_it_lands_in(shipped, metric, ping, column):
    doc = shipped.apps["pingpipe-demo"].metrics[metric]
    landing = {c.ping: c for c in doc.columns}[ping]
    assert landing.table == f"pingpipe_demo_live.{ping}_v1"
    assert landing.column == column
    assert ping in doc.pings


def test_each_sample_sql_runs_as_is_on_the_table_the_loader_makes(shipped, tmp_path):
    """Every metric's sample SQL against empty tables of the real schemas (DuckDB checks every name)."""
    from pingpipe.loader.tables import TableId
    from pingpipe.loader.writers.duckdb import DuckDBWriter

    registry = Registry.load()
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    try:
        for entry in registry:
            writer.ensure_table(TableId(*entry.live_table.split(".")), registry.table_schema(entry))
        ran = 0
        for metric in shipped.apps["pingpipe-demo"].metrics.values():
            for landing in metric.columns:
                writer.con.execute(landing.sql).fetchall()
                ran += 1
        assert ran > 80
    finally:
        writer.close()


def test_a_ping_lists_its_reasons_metrics_and_tables(shipped):
    baseline = shipped.apps["pingpipe-demo"].pings["baseline"]
    assert "inactive" in dict(baseline.reasons)
    assert baseline.tables == ["pingpipe_demo_live.baseline_v1", "pingpipe_demo_stable.baseline_v1", "pingpipe_demo.baseline"]
    assert "glean.baseline.duration" in baseline.metrics


def test_derived_tables_belong_to_their_app_and_carry_lineage(shipped):
    table = shipped.tables["pingpipe_demo_derived.baseline_clients_daily_v1"]
    assert table.app == "pingpipe-demo" and table.kind == "query"
    up = [n["table"] for n in shipped.lineage(table.name, "upstream")]
    assert up == ["pingpipe_demo_stable.baseline_v1"]
    down = [n["table"] for n in shipped.lineage("pingpipe_demo_live.baseline_v1", "downstream")]
    assert down == ["pingpipe_demo_stable.baseline_v1"]


def test_a_structured_namespace_lists_its_doctypes_and_column_descriptions(structured):
    app = structured.apps["eng-workflow"]
    assert app.kind == "structured" and set(app.pings) == {"hgpush", "build"}
    table = structured.tables["eng_workflow_live.hgpush_v1"]
    described = {c.path: c.description for c in table.columns}
    assert "40 hexadecimal digits" in described["changeset_id"]
    assert table.ping == "hgpush"
    assert structured.apps["pingpipe-demo"].kind == "glean"  # beside the shipped Glean app


def test_unreadable_definitions_are_reported_and_the_rest_still_built(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(Registry.load().root, root)
    broken = root / "apps" / "broken"
    broken.mkdir()
    (broken / "metrics.yaml").write_text("$schema: moz://mozilla.org/schemas/glean/metrics/2-0-0\nx:\n  y: {type: nope}\n")
    d = catalog.for_registry(Registry.load(root))
    assert list(d.problems) == [str(broken)]
    assert "pingpipe-demo" in d.apps


def test_the_search_index_holds_every_app_ping_metric_and_table(shipped):
    index = catalog.search_index(shipped)
    kinds = {(e["kind"], e["name"]) for e in index}
    assert ("metric", "demo.launches") in kinds and ("app", "pingpipe-demo") in kinds
    assert ("table", "pingpipe_demo_live.hello_v1") in kinds and ("ping", "pingpipe-demo / hello") in kinds
    assert all(e["url"].endswith("/") for e in index)


def test_client_info_metrics_land_in_the_client_info_of_every_ping_with_it(shipped):
    doc = shipped.apps["pingpipe-demo"].metrics["client_id"]
    assert {c.column for c in doc.columns} == {"client_info.client_id"}
    assert {"baseline", "hello", "metrics"} <= set(doc.pings) and "glean_client_info" not in doc.pings
