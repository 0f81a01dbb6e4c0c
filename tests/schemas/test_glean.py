"""`pingpipe schemas glean`: an app's definitions become its ping schemas, named as the Glean SDK names them.
(Mozilla's burnham app, reproduced column by column: tests/conformance/test_glean_burnham.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pingpipe.cli import main
from pingpipe.schemas import glean, names

from ..fixtures import GLEAN

APP = Path(__file__).resolve().parents[1] / "up" / "glean_app"  # the test app: two categories, a custom ping, tags
APP_FILES = ["--metrics", str(APP / "metrics.yaml"), "--pings", str(APP / "pings.yaml")]


def _by_name(fields: list[dict]) -> dict[str, dict]:
    return {f["name"]: f for f in fields}


def test_namespace_dataset_and_table_names_follow_the_sdk():
    assert glean.app_namespace("Org.Demo_App") == "org-demo-app"
    assert glean.app_namespace("org.mozilla.fenix") == "org-mozilla-fenix"
    app = glean.GleanApp("org.mozilla.fenix-nightly")
    assert app.dataset_family == "org_mozilla_fenix_nightly"
    assert glean.ping_table("deletion-request") == "deletion_request_v1"


@pytest.mark.parametrize(
    "app_id, namespace",
    [
        ("org.mozilla.test-app", "org-mozilla-test-app"),
        ("org.mozilla..test---app", "org-mozilla-test-app"),  # glean-core's cases
        ("org-mozilla-test-app", "org-mozilla-test-app"),
        ("org.mozilla.Test.App", "org-mozilla-test-app"),
        ("org.\u212aelvin", "org-elvin"),  # the Kelvin sign is no ASCII letter to glean-core, whatever Python's lower() says
    ],
)
def test_an_app_id_becomes_the_namespace_glean_core_sends_and_its_datasets_are_named_from_that(app_id, namespace):
    app = glean.GleanApp(app_id)
    assert app.namespace == names.glean_namespace(app_id) == namespace
    assert app.dataset_family == namespace.replace("-", "_")


def test_definitions_with_an_app_id_glean_would_not_carry_as_given_are_refused_not_named_after(tmp_path):
    with pytest.raises(glean.GleanDefinitionError, match="not an application id"):
        glean.load_app('org.evil"><script>', [GLEAN / "metrics.yaml"], include_builtins=False)


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
        "bq_dataset_family": "org_example_demo",
        "bq_metadata_format": "structured",
        "bq_table": "notes_v1",
        "include_client_id": False,
        "include_info_sections": True,
    }


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
    r = CliRunner().invoke(
        main,
        [
            "schemas",
            "glean",
            "--app-id",
            "pingpipe-demo",
            "--metrics",
            str(app / "metrics.yaml"),
            "--pings",
            str(app / "pings.yaml"),
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(data) for folder in ("pingpipe-demo", "apps/pingpipe-demo") for p in (data / folder).rglob("*") if p.is_file()
    )
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

    code = (
        "import sys; from pingpipe.schemas import glean_builtin as b; s = b.source(); "
        "print(s, *(f.name for f in s.files), 'glean' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    from importlib.metadata import version

    assert out == ["glean-sdk", version("glean-sdk"), "metrics.yaml", "pings.yaml", "False"]


def test_builtin_metrics_and_pings_are_marked_and_counted_in_the_summary(tmp_path):
    app = glean.load_app("org.example.e2e", [APP / "metrics.yaml"], [APP / "pings.yaml"])
    assert app.builtin_pings == {"baseline", "metrics", "events", "health", "deletion-request"}
    builtin = [m for m in app.metrics if m.builtin]
    assert {m.category for m in app.metrics if not m.builtin} == {"e2e.ui", "e2e.legacy"}
    assert builtin and all(m.category.startswith("glean") or not m.category for m in builtin)  # glean.internal.metrics: ""
    result = CliRunner().invoke(main, ["schemas", "glean", "--app-id", "org.example.e2e", *APP_FILES, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"built-ins: {len(builtin)} metric(s) and 5 ping(s) of glean-core from the installed {app.builtins}" in result.output


@pytest.mark.parametrize("option", ["--bug-1737656", "--ping-expiration"])
def test_a_misspelt_ping_name_is_refused_not_ignored(tmp_path, option):
    value = "baselin" if option == "--bug-1737656" else "baselin=30"
    result = CliRunner().invoke(
        main, ["schemas", "glean", "--app-id", "org.example.e2e", *APP_FILES, "--out", str(tmp_path), option, value]
    )
    assert result.exit_code == 2
    assert "baselin: not a ping of org.example.e2e" in result.output
    assert not (tmp_path / "org-example-e2e").exists()


def test_the_definitions_are_kept_beside_the_schemas_and_read_back(tmp_path):
    from pingpipe.schemas import definitions

    r = CliRunner().invoke(
        main, ["schemas", "glean", "--app-id", "org.example.E2E", *APP_FILES, "--metrics", str(APP / "tags.yaml"), "--out", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "apps" / "org-example-e2e").iterdir()) == [
        "app.yaml",
        "metrics.yaml",
        "pings.yaml",
        "tags.yaml",
    ]
    found = definitions.load(tmp_path)
    assert found.problems == {}
    app = found.apps["org-example-e2e"]
    assert app.app_id == "org.example.E2E" and "custom" in app.pings
    assert any(m.identifier == "e2e.legacy.client_id" for m in app.metrics)
