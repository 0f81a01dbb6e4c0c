"""The `pingpipe schemas` commands, run as a user runs them: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..fixtures import GLEAN_DEFINITIONS, SCHEMAS, SHIPPED, VALIDATION

pytestmark = pytest.mark.system

PINGPIPE = Path(sys.executable).with_name("pingpipe")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(PINGPIPE), *args], capture_output=True, text=True, timeout=120)


def test_build_reproduces_the_committed_bq_of_every_test_schema(tmp_path):
    """tests/fixtures/schemas' .bq files are what `schemas build` makes: rebuild them with
    `pingpipe schemas build tests/fixtures/schemas --out tests/fixtures/schemas` after changing a schema."""
    result = run("schemas", "build", str(SCHEMAS), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    compared = 0
    for want in SCHEMAS.glob("*/*/*.bq"):
        got = tmp_path / want.relative_to(SCHEMAS)
        assert got.read_text() == want.read_text(), want
        compared += 1
    assert compared == 6
    assert len(list(tmp_path.rglob("*.bq"))) == len(list(SCHEMAS.rglob("*.schema.json")))


def test_build_reports_a_bad_file_by_name_and_fails(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SCHEMAS / "eng-workflow", src / "eng-workflow")
    (src / "eng-workflow" / "broken").mkdir()
    (src / "eng-workflow" / "broken" / "broken.1.schema.json").write_text("{oops")
    result = run("schemas", "build", str(src), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "broken.1.schema.json" in result.stderr
    assert (tmp_path / "out" / "eng-workflow" / "hgpush" / "hgpush.1.bq").is_file()


def test_transpile_prints_one_bq_to_stdout():
    path = SCHEMAS / "eng-workflow" / "hgpush" / "hgpush.1.schema.json"
    result = run("schemas", "transpile", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (SCHEMAS / "eng-workflow" / "hgpush" / "hgpush.1.bq").read_text()


def test_check_runs_the_validation_documents(registry_root):
    result = run("schemas", "check", str(registry_root), "--validation", str(VALIDATION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "30/30 validation document(s) as expected" in result.stdout


def test_check_fails_when_a_document_gets_the_other_verdict_naming_it(registry_root, tmp_path):
    shutil.copytree(VALIDATION, tmp_path / "validation")
    passing = tmp_path / "validation" / "eng-workflow" / "hgpush.1.minimal.pass.json"
    passing.rename(passing.with_name("hgpush.1.minimal.fail.json"))
    result = run("schemas", "check", str(registry_root), "--validation", str(tmp_path / "validation"))
    assert result.returncode == 1
    assert "hgpush.1.minimal.fail.json" in result.stdout + result.stderr


def test_check_fails_on_a_bad_repository_naming_the_file(tmp_path):
    (tmp_path / "ns" / "doc").mkdir(parents=True)
    (tmp_path / "ns" / "doc" / "doc.1.schema.json").write_text('{"type": "object"}')
    result = run("schemas", "check", str(tmp_path))
    assert result.returncode == 1
    assert "doc.1.schema.json" in result.stderr and "$schema" in result.stderr


def test_build_warns_that_a_glean_apps_tables_are_generic_naming_it_and_schemas_glean(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SHIPPED / "pingpipe-demo", src / "pingpipe-demo")
    for bq in (src / "pingpipe-demo").rglob("*.bq"):
        bq.unlink()  # the app's schemas as published: the generic Glean schema plus mozPipelineMetadata
    shutil.copytree(SCHEMAS / "eng-workflow", src / "eng-workflow")
    result = run("schemas", "build", str(src), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert "namespace pingpipe-demo" in warnings[0] and "6 Glean ping schema(s)" in warnings[0]
    assert "eng-workflow" not in result.stderr
    assert "pingpipe schemas glean --app-id" in result.stderr
    assert "(6 with generic Glean columns)" in result.stderr
    assert (tmp_path / "out" / "pingpipe-demo" / "baseline" / "baseline.1.bq").is_file()


def test_build_warns_for_a_glean_ping_sent_without_info_sections(tmp_path):
    """glean-min pings have no client_info/ping_info; their metadata still marks them as Glean's."""
    generic = json.loads((SHIPPED / "glean" / "glean" / "glean-min.1.schema.json").read_text())
    generic["mozPipelineMetadata"] = {
        "bq_dataset_family": "org_example_app",
        "bq_metadata_format": "structured",
        "bq_table": "beacon_v1",
        "include_info_sections": False,
    }
    (tmp_path / "src" / "org-example-app" / "beacon").mkdir(parents=True)
    (tmp_path / "src" / "org-example-app" / "beacon" / "beacon.1.schema.json").write_text(json.dumps(generic))
    result = run("schemas", "build", str(tmp_path / "src"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "warning: namespace org-example-app: 1 Glean ping schema(s) (beacon)" in result.stderr


def test_build_does_not_warn_for_the_generic_glean_schema_itself(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SHIPPED / "glean", src / "glean")
    result = run("schemas", "build", str(src), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert len(list((tmp_path / "out").rglob("*.bq"))) == 2


GLEAN = GLEAN_DEFINITIONS


@pytest.mark.parametrize(
    "app_id", ['org.evil"><script>alert(1)</script>', "org/example", "org example", "org.example\n", "org.exämple", "...", ""]
)
def test_schemas_glean_refuses_an_app_id_glean_would_not_carry_as_given_in_one_line_writing_nothing(tmp_path, app_id):
    result = run("schemas", "glean", "--app-id", app_id, *GLEAN, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "--app-id" in errors[0] and "not an application id" in errors[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_a_dotted_uppercase_app_id_names_its_namespace_and_datasets_as_glean_sends_it_and_the_dictionary_builds(tmp_path):
    out = tmp_path / "schemas"
    result = run("schemas", "glean", "--app-id", "Org.Mozilla..Test---App", *GLEAN, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir() if p.name != "apps"] == ["org-mozilla-test-app"]  # glean-core's own test case
    families = {json.loads(p.read_text())["mozPipelineMetadata"]["bq_dataset_family"] for p in out.rglob("*.schema.json")}
    assert families == {"org_mozilla_test_app"}
    site = run("dictionary", "build", "--schemas", str(out), "--out", str(tmp_path / "site"))
    assert site.returncode == 0, site.stderr
    assert (tmp_path / "site" / "tables" / "org_mozilla_test_app_live.baseline_v1").is_dir()
    assert (tmp_path / "site" / "tables" / "org_mozilla_test_app_derived.baseline_clients_daily_v1").is_dir()


GLEAN_METRICS = """---
$schema: moz://mozilla.org/schemas/glean/metrics/2-0-0

browser:
  clicks:
    type: countr
    description: Clicks.
    bugs: [https://bugzilla.mozilla.org/1]
    data_reviews: [https://bugzilla.mozilla.org/1]
    notification_emails: [a@example.com]
    expires: never
  theme:
    type: string
    description: The theme.
    colour: red
    bugs: [https://bugzilla.mozilla.org/1]
    data_reviews: [https://bugzilla.mozilla.org/1]
    notification_emails: [a@example.com]
    expires: never
"""


def test_misspelt_glean_definitions_are_glean_parsers_messages_one_line_each_with_file_and_line(tmp_path):
    metrics = tmp_path / "metrics.yaml"
    metrics.write_text(GLEAN_METRICS)
    result = run("schemas", "glean", "--app-id", "org.example.app", "--metrics", str(metrics), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Error: glean_parser found 2 problems:" and len(lines) == 3, result.stderr
    assert lines[1].startswith(f"  {metrics}:6: browser.clicks.type: 'countr' is not one of ['event', 'boolean', ")
    assert lines[1].endswith("(did you mean 'counter'?)")
    assert lines[2] == f"  {metrics}:15: browser.theme.colour: Additional properties are not allowed ('colour' was unexpected)"
    assert "Documentation for this node" not in result.stderr and not (tmp_path / "out").exists()
