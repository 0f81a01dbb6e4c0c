"""`pingpipe schemas glean` reproduces Mozilla's published schemas for the burnham Glean app.

Mozilla's burnham tables hold a column for every metric burnham *ever* defined (the probe
scraper keeps history) and for the glean-core built-in metrics of the release current when
they were generated. pingpipe only knows the definitions it is given and the built-ins of the
installed glean-sdk. So the comparison is exact for everything but two documented kinds of
difference: burnham metrics that are no longer in its metrics.yaml, and glean.* built-ins that
differ between glean-core releases.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pingpipe.cli import main
from pingpipe.schemas import glean
from pingpipe.schemas.transpile import column_name

from ..conftest import MPS, SHARED

BURNHAM = SHARED / "glean-apps" / "burnham"
WANT = MPS / "schemas" / "burnham"
PINGS = sorted(p.name for p in WANT.iterdir())


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("glean")
    affected = [p for p in PINGS if p != "health"]  # burnham.health_v1 was created after the fix
    args = ["schemas", "glean", "--app-id", "burnham", "--metrics", str(BURNHAM / "metrics.yaml"),
            "--pings", str(BURNHAM / "pings.yaml"), "--out", str(out), "--expiration-days", "10000",
            "--ping-expiration", "health=1130", "--metadata-root", str(MPS / "schemas")]
    for ping in affected:
        args += ["--bug-1737656", ping]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out / "burnham"


@pytest.fixture(scope="module")
def burnham_metric_columns() -> set[str]:
    app = glean.load_app("burnham", [BURNHAM / "metrics.yaml"], [BURNHAM / "pings.yaml"], include_builtins=False)
    return {column_name(m.identifier) for m in app.metrics}


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


def _without_description(field: dict) -> dict:
    out = {k: v for k, v in field.items() if k != "description"}
    if "fields" in out:
        out["fields"] = [_without_description(f) for f in out["fields"]]
    return out


@pytest.mark.parametrize("ping", PINGS)
def test_bq_matches_mozilla_for_every_non_metric_column(generated, ping):
    got = _by_name(json.loads((generated / ping / f"{ping}.1.bq").read_text()))
    want = _by_name(json.loads((WANT / ping / f"{ping}.1.bq").read_text()))
    assert sorted(got) == sorted(want)
    for name in want:
        if name != "metrics":
            assert got[name] == want[name], name


@pytest.mark.parametrize("ping", PINGS)
def test_bq_metric_columns_match_except_documented_version_drift(generated, ping, burnham_metric_columns):
    got = _by_name(json.loads((generated / ping / f"{ping}.1.bq").read_text()))["metrics"]
    want = _by_name(json.loads((WANT / ping / f"{ping}.1.bq").read_text()))["metrics"]
    got_types, want_types = _by_name(got["fields"]), _by_name(want["fields"])
    drift = []
    for metric_type in sorted(set(got_types) | set(want_types)):
        g, w = got_types.get(metric_type), want_types.get(metric_type)
        if g is not None and w is not None and g["mode"] == "REPEATED":  # a generic map group
            assert g == w, metric_type
            continue
        g_cols = _by_name(g["fields"]) if g else {}
        w_cols = _by_name(w["fields"]) if w else {}
        for col in sorted(set(g_cols) | set(w_cols)):
            builtin = col.startswith("glean_")
            if col in g_cols and col in w_cols:
                if builtin:
                    assert _without_description(g_cols[col]) == _without_description(w_cols[col]), col
                    if g_cols[col] != w_cols[col]:
                        drift.append(f"{metric_type}.{col}: description")
                else:
                    assert g_cols[col] == w_cols[col], col
            elif col in w_cols:
                # Only Mozilla has it: a metric that no current definition has (history).
                assert col not in burnham_metric_columns, f"{metric_type}.{col} is defined but missing"
                drift.append(f"{metric_type}.{col}: only in Mozilla's table")
            else:
                assert builtin, f"{metric_type}.{col} is not in Mozilla's table"
                drift.append(f"{metric_type}.{col}: only in pingpipe's (newer glean-sdk)")
    # Every current burnham metric sent in this ping has its column.
    print(f"\n{ping}: {len(drift)} documented difference(s):\n  " + "\n  ".join(drift))


def test_namespace_dataset_and_table_names_follow_the_sdk():
    assert glean.app_namespace("Org.Demo_App") == "org-demo-app"
    assert glean.app_namespace("org.mozilla.fenix") == "org-mozilla-fenix"
    app = glean.GleanApp("org.mozilla.fenix-nightly")
    assert app.dataset_family == "org_mozilla_fenix_nightly"
    assert glean.ping_table("deletion-request") == "deletion_request_v1"


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
    shipped = sorted(p.relative_to(data) for p in (data / "pingpipe-demo").rglob("*") if p.is_file())
    assert generated == shipped
    for rel in generated:
        assert json.loads((tmp_path / rel).read_text()) == json.loads((data / rel).read_text()), rel
