"""`pingpipe etl test`: fixture tests in bigquery-etl's layout on an in-memory DuckDB. The shipped
tests of the generated Glean usage queries pass; a wrong expectation fails with the rows that
differ; a user's own query and tests run beside them from the command line, offline."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from pingpipe.etl import catalog
from pingpipe.etl.fixture_tests import SHIPPED, fields_by_table, find, run_test
from pingpipe.schemas.registry import Registry
from tests.helpers import PINGPIPE


@pytest.fixture(scope="module")
def generated():
    registry = Registry.load(None)
    queries = catalog.queries(registry)
    return {q.name: q for q in queries}, fields_by_table(registry, queries)


def test_the_shipped_tests_of_the_generated_glean_usage_queries_pass(generated):
    queries, fields_of = generated
    found = find(SHIPPED)
    assert {table for table, _ in found} == {
        f"pingpipe_demo_derived.{t}" for t in ("baseline_clients_daily_v1", "baseline_clients_last_seen_v1", "active_users_v1")
    }
    for table, folder in found:
        outcome = run_test(queries[table], folder, fields_of)
        assert outcome.passed, (table, outcome.problem, outcome.missing, outcome.unexpected)


def test_a_wrong_expectation_fails_with_the_rows_that_differ(generated, tmp_path):
    queries, fields_of = generated
    table, folder = next((t, f) for t, f in find(SHIPPED) if t.endswith("active_users_v1"))
    test = shutil.copytree(folder, tmp_path / folder.name)
    expect = yaml.safe_load((test / "expect.yaml").read_text())
    expect[0]["mau"] += 1
    (test / "expect.yaml").write_text(yaml.safe_dump(expect))
    outcome = run_test(queries[table], test, fields_of)
    assert not outcome.passed and [r["mau"] for r in outcome.missing] == [4] and [r["mau"] for r in outcome.unexpected] == [3]


@pytest.mark.system
def test_a_users_query_and_its_tests_run_from_the_command_line_beside_the_shipped_ones(tmp_path):
    query = tmp_path / "sql" / "analysis" / "channels_v1"
    query.mkdir(parents=True)
    (query / "query.sql").write_text(
        "SELECT submission_date, normalized_channel, COUNT(*) AS clients FROM `pingpipe_demo_derived.baseline_clients_daily_v1` "
        "WHERE submission_date = @submission_date GROUP BY submission_date, normalized_channel"
    )
    (query / "metadata.yaml").write_text("description: clients per channel\n")
    for name, clients in (("test_counts", 2), ("test_wrong", 3)):
        test = tmp_path / "tests" / "analysis" / "channels_v1" / name
        test.mkdir(parents=True)
        (test / "query_params.yaml").write_text("- {name: submission_date, type: DATE, value: '2026-11-20'}\n")
        (test / "pingpipe_demo_derived.baseline_clients_daily_v1.yaml").write_text(
            "- {submission_date: '2026-11-20', client_id: a, normalized_channel: release}\n"
            "- {submission_date: '2026-11-20', client_id: b, normalized_channel: release}\n"
            "- {submission_date: '2026-11-19', client_id: c, normalized_channel: release}\n"
        )
        (test / "expect.yaml").write_text(f"- {{submission_date: '2026-11-20', normalized_channel: release, clients: {clients}}}\n")
    done = subprocess.run(
        [PINGPIPE, "etl", "test", "--sql", str(tmp_path / "sql"), "--tests", str(tmp_path / "tests")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pass analysis.channels_v1/test_counts" in done.stdout and "5 test(s) run, 1 failed" in done.stdout
    assert "FAIL analysis.channels_v1/test_wrong: rows differ" in done.stderr and '"clients": 2' in done.stderr
