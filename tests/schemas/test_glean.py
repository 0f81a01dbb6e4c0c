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
from pingpipe.schemas import glean, names
from pingpipe.schemas.transpile import column_name

from ..conftest import MPS, SHARED

BURNHAM = SHARED / "glean-apps" / "burnham"
WANT = MPS / "schemas" / "burnham"
PINGS = sorted(p.name for p in WANT.iterdir())


# Tables Mozilla created before the bug 1737656 fix (November 2021) keep jwe, labeled_rate, text
# and url as open maps; mozilla-schema-generator's configs/bug_1737656_affected.txt names
# burnham's seven older tables, not health (added with glean-core's health ping in 2025).
BUG_1737656_TABLES = [p for p in PINGS if p != "health"]
LEGACY_MAPS = {"jwe", "labeled_rate", "text", "url"}


def _generate(out: Path, *extra: str) -> Path:
    args = ["schemas", "glean", "--app-id", "burnham", "--metrics", str(BURNHAM / "metrics.yaml"),
            "--pings", str(BURNHAM / "pings.yaml"), "--out", str(out), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out / "burnham"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    args = ["--expiration-days", "10000", "--ping-expiration", "health=1130", "--metadata-root", str(MPS / "schemas")]
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
        {"baseline"}, "glean.validation.metrics_ping_count, removed in glean-core v23.0.0 (bug 1602786)"),
    "metrics.counter.glean_validation_baseline_ping_count": (
        {"metrics"}, "glean.validation.baseline_ping_count, removed in glean-core v23.0.0 (bug 1602786)"),
    "metrics.counter.glean_validation_app_forceclosed_count": (
        {"metrics"}, "glean.validation.app_forceclosed_count, removed in glean-core v23.0.0"),
    "metrics.boolean.glean_core_migration_successful": (
        {"metrics"}, "glean.core.migration.successful (the Android migration from glean-ac), removed in v24.0.0"),
    "metrics.boolean.glean_error_preinit_tasks_timeout": (
        {"metrics"}, "glean.error.preinit_tasks_timeout (iOS), removed in v24.2.0"),
    "metrics.string.glean_baseline_locale": (
        {"baseline"}, "glean.baseline.locale, moved to client_info.locale and removed in v31.3.0"),
    "metrics.string.ping_reason": (
        {"metrics"}, "glean.internal.metrics.ping_reason (glean_parser then named internal metrics without "
                     "their category); became ping_info.reason in v33.1.1"),
    "metrics.counter.glean_time_invalid_timezone_offset": (
        {"metrics"}, "glean.time.invalid_timezone_offset, removed in v43.0.0"),
    "metrics.datetime.glean_validation_first_run_hour": (
        {"baseline", "metrics"}, "glean.validation.first_run_hour, removed in v52.0.0"),
    "metrics.object.glean_database_load_sizes": (
        {"metrics", "health"}, "glean.database.load_sizes: v65.2.0 sent it in metrics, v66.0.0 moved it to "
                               "health, v66.2.0 removed it; Mozilla keeps both pings of its history"),
    # burnham's own, from before its March 2020 recategorisation (test.burnham.* became test.*,
    # mission.* and technology.*: new names, so new columns, which pingpipe produces)
    "metrics.uuid.test_burnham_test_run": ({"discovery"}, "test.burnham.test_run, now test.run"),
    "metrics.string.test_burnham_test_name": ({"discovery"}, "test.burnham.test_name, now test.name"),
    "metrics.string.test_burnham_mission": ({"discovery"}, "test.burnham.mission, now mission.identifier"),
    "metrics.string.test_burnham_status": ({"discovery"}, "test.burnham.status, now mission.status"),
    "metrics.string.test_burnham_position": ({"discovery"}, "test.burnham.position, removed in February 2020"),
    "metrics.labeled_counter.test_burnham_space_travel": (
        {"discovery"}, "test.burnham.space_travel, now technology.space_travel"),
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


def test_namespace_dataset_and_table_names_follow_the_sdk():
    assert glean.app_namespace("Org.Demo_App") == "org-demo-app"
    assert glean.app_namespace("org.mozilla.fenix") == "org-mozilla-fenix"
    app = glean.GleanApp("org.mozilla.fenix-nightly")
    assert app.dataset_family == "org_mozilla_fenix_nightly"
    assert glean.ping_table("deletion-request") == "deletion_request_v1"


@pytest.mark.parametrize("app_id, namespace", [
    ("org.mozilla.test-app", "org-mozilla-test-app"), ("org.mozilla..test---app", "org-mozilla-test-app"),  # glean-core's cases
    ("org-mozilla-test-app", "org-mozilla-test-app"), ("org.mozilla.Test.App", "org-mozilla-test-app"),
    ("org.\u212aelvin", "org-elvin"),  # the Kelvin sign is no ASCII letter to glean-core, whatever Python's lower() says
])
def test_an_app_id_becomes_the_namespace_glean_core_sends_and_its_datasets_are_named_from_that(app_id, namespace):
    app = glean.GleanApp(app_id)
    assert app.namespace == names.glean_namespace(app_id) == namespace
    assert app.dataset_family == namespace.replace("-", "_")


def test_definitions_with_an_app_id_glean_would_not_carry_as_given_are_refused_not_named_after(tmp_path):
    with pytest.raises(glean.GleanDefinitionError, match="not an application id"):
        glean.load_app('org.evil"><script>', [SHARED / "glean" / "metrics.yaml"], include_builtins=False)


def test_new_apps_put_text_and_url_metrics_in_the_2_suffixed_groups(tmp_path):
    metrics = tmp_path / "metrics.yaml"
    pings = tmp_path / "pings.yaml"
    pings.write_text(
        "$schema: moz://mozilla.org/schemas/glean/pings/2-0-0\n"
        "notes:\n  description: Notes.\n  include_client_id: false\n  bugs: [https://example.com/1]\n"
        "  data_reviews: [https://example.com/2]\n  notification_emails: [a@example.com]\n"
    )
    metrics.write_text(
        "$schema: moz://mozilla.org/schemas/glean/metrics/2-0-0\n"
        "demo:\n"
        "  note:\n    type: text\n    description: A note.\n    lifetime: ping\n    send_in_pings: [notes]\n"
        "    bugs: [https://example.com/1]\n    data_reviews: [https://example.com/2]\n    notification_emails: [a@example.com]\n"
        "    expires: never\n    data_sensitivity: [stored_content]\n"
        "  hidden:\n    type: counter\n    description: Off unless enabled remotely.\n    disabled: true\n"
        "    bugs: [https://example.com/1]\n    data_reviews: [https://example.com/2]\n    notification_emails: [a@example.com]\n"
        "    expires: never\n"
    )
    app = glean.load_app("org.example.demo", [metrics], [pings])
    built = glean.build(app, metadata_schema=glean_metadata())
    notes = _by_name(_by_name(built["notes"][1])["metrics"]["fields"])
    assert "text2" in notes and "text" not in notes
    assert [c["name"] for c in notes["text2"]["fields"]] == ["demo_note"]
    assert "demo_hidden" in _by_name(_by_name(_by_name(built["metrics"][1])["metrics"]["fields"])["counter"]["fields"])
    assert built["notes"][0]["mozPipelineMetadata"] == {
        "bq_dataset_family": "org_example_demo", "bq_metadata_format": "structured", "bq_table": "notes_v1",
        "include_client_id": False, "include_info_sections": True}


def glean_metadata() -> dict:
    from pingpipe.schemas.registry import metadata_schema

    return metadata_schema("structured")


def test_bad_definitions_are_reported_with_the_parser_message(tmp_path):
    bad = tmp_path / "metrics.yaml"
    bad.write_text("$schema: moz://mozilla.org/schemas/glean/metrics/2-0-0\ncat:\n  m:\n    type: no_such_type\n")
    result = CliRunner().invoke(main, ["schemas", "glean", "--app-id", "x", "--metrics", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "no_such_type" in result.output


def test_the_shipped_demo_app_schemas_are_what_its_definitions_generate(tmp_path):
    """schemas/data/pingpipe-demo is generated from schemas/data/apps/pingpipe-demo: they never drift apart."""
    from click.testing import CliRunner

    from pingpipe.cli import main

    data = Path(__file__).resolve().parents[2] / "schemas" / "data"
    app = data / "apps" / "pingpipe-demo"
    r = CliRunner().invoke(main, ["schemas", "glean", "--app-id", "pingpipe-demo", "--metrics", str(app / "metrics.yaml"),
                                  "--pings", str(app / "pings.yaml"), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(data) for folder in ("pingpipe-demo", "apps/pingpipe-demo")
                     for p in (data / folder).rglob("*") if p.is_file())
    assert generated == shipped  # the schemas, and the definitions kept beside them for the dictionary
    for rel in generated:
        if rel.suffix == ".yaml":
            assert (tmp_path / rel).read_bytes() == (data / rel).read_bytes(), rel
        else:
            assert json.loads((tmp_path / rel).read_text()) == json.loads((data / rel).read_text()), rel


@pytest.mark.system
def test_builtins_come_from_the_installed_glean_sdk_without_loading_it():
    """glean-core's own definitions ship in the glean-sdk wheel; reading them must not start the SDK."""
    import subprocess
    import sys

    code = ("import sys; from pingpipe.schemas import glean_builtin as b; s = b.source(); "
            "print(s, *(f.name for f in s.files), 'glean' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    from importlib.metadata import version

    assert out == ["glean-sdk", version("glean-sdk"), "metrics.yaml", "pings.yaml", "False"]


def test_builtin_metrics_and_pings_are_marked_and_counted_in_the_summary(tmp_path):
    app = glean.load_app("burnham", [BURNHAM / "metrics.yaml"], [BURNHAM / "pings.yaml"])
    assert app.builtin_pings == {"baseline", "metrics", "events", "health", "deletion-request"}
    builtin = [m for m in app.metrics if m.builtin]
    assert {m.category for m in app.metrics if not m.builtin} == {"test", "mission", "technology"}
    assert builtin and all(m.category.startswith("glean") or not m.category for m in builtin)  # glean.internal.metrics: ""
    result = CliRunner().invoke(main, ["schemas", "glean", "--app-id", "burnham", "--metrics", str(BURNHAM / "metrics.yaml"),
                                       "--pings", str(BURNHAM / "pings.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"built-ins: {len(builtin)} metric(s) and 5 ping(s) of glean-core from the installed {app.builtins}" in result.output


@pytest.mark.parametrize("option", ["--bug-1737656", "--ping-expiration"])
def test_a_misspelt_ping_name_is_refused_not_ignored(tmp_path, option):
    value = "baselin" if option == "--bug-1737656" else "baselin=30"
    result = CliRunner().invoke(main, ["schemas", "glean", "--app-id", "burnham", "--metrics", str(BURNHAM / "metrics.yaml"),
                                       "--pings", str(BURNHAM / "pings.yaml"), "--out", str(tmp_path), option, value])
    assert result.exit_code == 2
    assert "baselin: not a ping of burnham" in result.output
    assert not (tmp_path / "burnham").exists()


def test_the_definitions_are_kept_beside_the_schemas_and_read_back(tmp_path):
    from pingpipe.schemas import definitions

    r = CliRunner().invoke(main, ["schemas", "glean", "--app-id", "org.example.Burnham", "--metrics", str(BURNHAM / "metrics.yaml"),
                                  "--pings", str(BURNHAM / "pings.yaml"), "--metrics", str(BURNHAM / "tags.yaml"),
                                  "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "apps" / "org-example-burnham").iterdir()) == [
        "app.yaml", "metrics.yaml", "pings.yaml", "tags.yaml"]
    found = definitions.load(tmp_path)
    assert found.problems == {}
    app = found.apps["org-example-burnham"]
    assert app.app_id == "org.example.Burnham" and "discovery" in app.pings
    assert any(m.identifier == "mission.identifier" for m in app.metrics)
