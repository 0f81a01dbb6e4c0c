"""`pingpipe schemas glean` reproduces Mozilla's published schemas for the burnham Glean app.

Mozilla's burnham tables hold a column for every metric burnham *ever* defined and every
glean-core built-in metric *ever* defined (probe-scraper keeps each repository's history, with
the union of the pings a metric was ever sent in). pingpipe knows today's definitions: burnham's
metrics.yaml and the built-ins of the installed glean-sdk. So every Mozilla column is produced
except the retired metrics listed, one by one, in RETIRED below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pingpipe.cli import main
from pingpipe.dictionary import catalog
from pingpipe.schemas import definitions, glean
from pingpipe.schemas.registry import Registry
from pingpipe.schemas.transpile import column_name

from .data import DATA

BURNHAM = DATA / "glean-apps" / "burnham" if DATA is not None else None
WANT = DATA / "mps" / "schemas" / "burnham" if DATA is not None else None
PINGS = sorted(p.name for p in WANT.iterdir()) if WANT is not None else []


# Tables Mozilla created before the bug 1737656 fix (November 2021) keep jwe, labeled_rate, text
# and url as open maps; mozilla-schema-generator's configs/bug_1737656_affected.txt names
# burnham's seven older tables, not health (added with glean-core's health ping in 2025).
BUG_1737656_TABLES = [p for p in PINGS if p != "health"]
LEGACY_MAPS = {"jwe", "labeled_rate", "text", "url"}


def _generate(out: Path, *extra: str) -> Path:
    args = [
        "schemas",
        "glean",
        "--app-id",
        "burnham",
        "--metrics",
        str(BURNHAM / "metrics.yaml"),
        "--pings",
        str(BURNHAM / "pings.yaml"),
        "--out",
        str(out),
        *extra,
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out / "burnham"


@pytest.fixture(scope="module")
def generated(tmp_path_factory, mps_schemas) -> Path:
    args = ["--expiration-days", "10000", "--ping-expiration", "health=1130", "--metadata-root", str(mps_schemas)]
    for ping in BUG_1737656_TABLES:
        args += ["--bug-1737656", ping]
    return _generate(tmp_path_factory.mktemp("glean"), *args)


@pytest.fixture(scope="module")
def generated_plain(tmp_path_factory) -> Path:
    """The command as a user first runs it: no knowledge of which tables predate bug 1737656."""
    return _generate(tmp_path_factory.mktemp("glean-plain"))


def test_writes_one_schema_pair_per_ping_including_gleans_own(generated):
    assert sorted(p.name for p in generated.iterdir()) == PINGS
    for ping in PINGS:
        assert (generated / ping / f"{ping}.1.schema.json").is_file()
        assert (generated / ping / f"{ping}.1.bq").is_file()


@pytest.mark.parametrize("ping", PINGS)
def test_published_json_schema_is_the_generic_schema_plus_pipeline_metadata(generated, ping):
    got = json.loads((generated / ping / f"{ping}.1.schema.json").read_text())
    assert got == json.loads((WANT / ping / f"{ping}.1.schema.json").read_text())


def _by_name(fields: list[dict]) -> dict[str, dict]:
    return {f["name"]: f for f in fields}


def _bq(root: Path, ping: str) -> list[dict]:
    return json.loads((root / ping / f"{ping}.1.bq").read_text())


def columns(fields: list[dict], prefix: str = "") -> set[str]:
    """Leaf column paths (a RECORD counts as its leaves): what the overlap is measured in."""
    out: set[str] = set()
    for f in fields:
        path = prefix + f["name"]
        out |= columns(f["fields"], path + ".") if f.get("fields") else {path}
    return out


def metric_column(path: str) -> str:
    """`metrics.<type>.<column>`: the metric a leaf column belongs to."""
    return ".".join(path.split(".")[:3])


# Mozilla's burnham columns that pingpipe does not produce: {metric column: (pings, why)}.
# Each is a metric that no current definition has, kept by Mozilla because probe-scraper keeps
# history (and BigQuery cannot drop a column). Removal releases are glean-core's git tags.
RETIRED = {
    # glean-core built-ins retired before the installed glean-sdk (71.0.0)
    "metrics.counter.glean_validation_metrics_ping_count": (
        {"baseline"},
        "glean.validation.metrics_ping_count, removed in glean-core v23.0.0 (bug 1602786)",
    ),
    "metrics.counter.glean_validation_baseline_ping_count": (
        {"metrics"},
        "glean.validation.baseline_ping_count, removed in glean-core v23.0.0 (bug 1602786)",
    ),
    "metrics.counter.glean_validation_app_forceclosed_count": (
        {"metrics"},
        "glean.validation.app_forceclosed_count, removed in glean-core v23.0.0",
    ),
    "metrics.boolean.glean_core_migration_successful": (
        {"metrics"},
        "glean.core.migration.successful (the Android migration from glean-ac), removed in v24.0.0",
    ),
    "metrics.boolean.glean_error_preinit_tasks_timeout": ({"metrics"}, "glean.error.preinit_tasks_timeout (iOS), removed in v24.2.0"),
    "metrics.string.glean_baseline_locale": ({"baseline"}, "glean.baseline.locale, moved to client_info.locale and removed in v31.3.0"),
    "metrics.string.ping_reason": (
        {"metrics"},
        "glean.internal.metrics.ping_reason (glean_parser then named internal metrics without "
        "their category); became ping_info.reason in v33.1.1",
    ),
    "metrics.counter.glean_time_invalid_timezone_offset": ({"metrics"}, "glean.time.invalid_timezone_offset, removed in v43.0.0"),
    "metrics.datetime.glean_validation_first_run_hour": ({"baseline", "metrics"}, "glean.validation.first_run_hour, removed in v52.0.0"),
    "metrics.object.glean_database_load_sizes": (
        {"metrics", "health"},
        "glean.database.load_sizes: v65.2.0 sent it in metrics, v66.0.0 moved it to "
        "health, v66.2.0 removed it; Mozilla keeps both pings of its history",
    ),
    # burnham's own, from before its March 2020 recategorisation (test.burnham.* became test.*,
    # mission.* and technology.*: new names, so new columns, which pingpipe produces)
    "metrics.uuid.test_burnham_test_run": ({"discovery"}, "test.burnham.test_run, now test.run"),
    "metrics.string.test_burnham_test_name": ({"discovery"}, "test.burnham.test_name, now test.name"),
    "metrics.string.test_burnham_mission": ({"discovery"}, "test.burnham.mission, now mission.identifier"),
    "metrics.string.test_burnham_status": ({"discovery"}, "test.burnham.status, now mission.status"),
    "metrics.string.test_burnham_position": ({"discovery"}, "test.burnham.position, removed in February 2020"),
    "metrics.labeled_counter.test_burnham_space_travel": ({"discovery"}, "test.burnham.space_travel, now technology.space_travel"),
}
# Columns pingpipe produces that Mozilla's tables lack: none. Mozilla's tables hold every built-in
# of glean-sdk 71.0.0, down to those first released in glean-core v67.4.0 (glean.sessions_seen,
# glean.upload.pending_pings_deleted), with the same descriptions; and every current burnham metric.
ONLY_PINGPIPE: dict[str, tuple[set[str], str]] = {}


def _retired_in(ping: str, table: dict) -> set[str]:
    return {col for col, (pings, _why) in table.items() if ping in pings}


@pytest.mark.parametrize("ping", PINGS)
def test_every_mozilla_column_is_produced_but_the_listed_retired_metrics(generated, ping):
    want, got = columns(_bq(WANT, ping)), columns(_bq(generated, ping))
    missing = {metric_column(path) for path in want - got}
    assert missing == _retired_in(ping, RETIRED)


@pytest.mark.parametrize("ping", PINGS)
def test_no_column_is_produced_that_mozilla_lacks_but_the_listed_ones(generated, ping):
    want, got = columns(_bq(WANT, ping)), columns(_bq(generated, ping))
    extra = {metric_column(path) for path in got - want}
    assert extra == _retired_in(ping, ONLY_PINGPIPE)


def metric_fields(bq: list[dict]) -> dict[str, dict]:
    """Each metric's whole column (`metrics.<type>.<column>`), and each open-map group as one."""
    out = {}
    for group in _by_name(bq)["metrics"]["fields"]:
        if group["mode"] == "REPEATED":
            out[f"metrics.{group['name']}"] = group
        else:
            out.update({f"metrics.{group['name']}.{f['name']}": f for f in group["fields"]})
    return out


@pytest.mark.parametrize("ping", PINGS)
def test_every_shared_metric_column_has_mozillas_structure_types_and_description(generated, ping):
    want, got = metric_fields(_bq(WANT, ping)), metric_fields(_bq(generated, ping))
    assert set(want) & set(got)
    for name in sorted(set(want) & set(got)):
        assert got[name] == want[name], name


@pytest.mark.parametrize("ping", PINGS)
def test_bq_matches_mozilla_for_every_non_metric_column(generated, ping):
    got = _by_name(_bq(generated, ping))
    want = _by_name(_bq(WANT, ping))
    assert sorted(got) == sorted(want)
    for name in want:
        if name != "metrics":
            assert got[name] == want[name], name


def test_retired_metrics_are_not_in_any_current_definition():
    """The exceptions are history, not a bug: no definition pingpipe is given or ships has them."""
    app = glean.load_app("burnham", [BURNHAM / "metrics.yaml"], [BURNHAM / "pings.yaml"])
    current = {f"metrics.{m.type}.{column_name(m.identifier)}" for m in app.metrics}
    assert not set(RETIRED) & current


def overlap(root: Path) -> tuple[int, int]:
    """(Mozilla's burnham leaf columns that ROOT's tables have, all of Mozilla's), over every ping."""
    produced = total = 0
    for ping in PINGS:
        want, got = columns(_bq(WANT, ping)), columns(_bq(root, ping))
        produced += len(want & got)
        total += len(want)
    return produced, total


def test_968_of_mozillas_987_burnham_columns_are_produced_the_19_others_are_retired(generated):
    assert overlap(generated) == (968, 987)


def test_without_bug_1737656_tables_the_only_further_gap_is_their_four_legacy_maps(generated, generated_plain):
    """The plain command misses 70 more columns: the open maps of Mozilla's pre-November-2021 tables."""
    assert overlap(generated_plain) == (898, 987)
    for ping in PINGS:
        full, plain = columns(_bq(generated, ping)), columns(_bq(generated_plain, ping))
        assert plain <= full
        groups = {path.split(".")[1] for path in full - plain}
        assert groups == (LEGACY_MAPS if ping in BUG_1737656_TABLES else set()), ping


@pytest.mark.parametrize("ping", PINGS)
def test_a_table_has_a_group_only_for_types_its_metrics_have_plus_the_legacy_maps(generated, ping):
    """Mozilla's rule, seen in its tables and kept by pingpipe's: of the generic schema's 25 metric
    types, unused ones get no group; only the bug 1737656 types stay open maps, in older tables."""
    for root in (WANT, generated):
        groups = _by_name(_by_name(_bq(root, ping))["metrics"]["fields"])
        maps = {name for name, group in groups.items() if group["mode"] == "REPEATED"}
        assert maps == (LEGACY_MAPS if ping in BUG_1737656_TABLES else set()), (root, ping)
        for name in set(groups) - maps:
            assert groups[name]["type"] == "RECORD" and groups[name]["fields"], (root, ping, name)
    generic = glean.generic_schema()["properties"]["metrics"]["properties"]
    assert len(generic) == 25 and LEGACY_MAPS <= set(generic)


@pytest.fixture(scope="module")
def mozilla(tmp_path_factory, mps_schemas) -> catalog.Dictionary:
    """Mozilla's own schemas (as MPS generated them), with burnham's definitions kept beside them."""
    import shutil

    root = tmp_path_factory.mktemp("mps") / "schemas"
    shutil.copytree(mps_schemas, root)
    definitions.save(root, "burnham", sorted(BURNHAM.glob("*.yaml")))
    return catalog.for_registry(Registry.load(root))


def test_mozillas_generated_tables_are_read_for_the_column_not_guessed(mozilla):
    """burnham's .bq in MPS was made by Mozilla's generator: the dictionary finds its columns there."""
    app = mozilla.apps["burnham"]
    assert app.kind == "glean"
    identifier = {c.ping: c for c in app.metrics["mission.identifier"].columns}
    assert identifier["discovery"].table == "burnham_live.discovery_v1"
    assert identifier["discovery"].column == "metrics.string.mission_identifier"


def test_the_dictionary_lists_mozillas_structured_namespace_with_its_column_descriptions(mozilla):
    app = mozilla.apps["eng-workflow"]
    assert app.kind == "structured" and {"hgpush", "build", "bmobugs"} <= set(app.pings)
    table = mozilla.tables["eng_workflow_live.hgpush_v1"]
    described = {c.path: c.description for c in table.columns}
    assert "40 char hex ID" in described["changeset_id"]
    assert table.ping == "hgpush"
