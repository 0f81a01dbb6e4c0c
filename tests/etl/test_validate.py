"""`pingpipe etl validate`: every query checked offline (metadata against its schema, SQL for both
engines, the tables it reads, its checks.sql), each problem named with its file."""

from __future__ import annotations

import subprocess

import pytest

from pingpipe.etl.queries import Query, QueryError, from_parts
from pingpipe.etl.validate import validate
from tests.helpers import PINGPIPE


def test_metadata_that_does_not_fit_its_schema_is_refused_naming_the_file_and_the_key():
    q = Query("ds", "t", "SELECT 1", "sql/ds/t/query.sql")
    with pytest.raises(QueryError, match=r"sql/ds/t/metadata.yaml: does not fit metadata.schema.json: .*is not of type \"boolean\""):
        from_parts(q, ("sql/ds/t/metadata.yaml", {"depends_on_past": "yes"}), ("schema.yaml", None))
    with pytest.raises(QueryError, match="does not match"):
        from_parts(q, ("m.yaml", {"owners": ["not an address"]}), ("s.yaml", None))
    assert from_parts(q, ("m.yaml", {"owners": ["a@example.com"], "scheduling": {"date_partition_parameter": None}}), ("s.yaml", None))


@pytest.mark.parametrize(
    "sql, checks, problem",
    [
        ("SELECT FROM WHERE", None, "does not parse as BigQuery SQL"),
        ("SELECT * FROM `ds.nowhere` WHERE d = @submission_date", None, "reads ds.nowhere, which no query or schema makes"),
        ("SELECT 1 AS n", "SELECT 1", "each check follows a line #fail or #warn"),
        ("SELECT * FROM `ds.known` WHERE d = @submission_date", "#fail\n{{ is_unique(['n'], 'true') }}", None),
    ],
)
def test_each_problem_of_a_query_is_found_without_a_warehouse(sql, checks, problem):
    q = Query("ds", "t", sql, "sql/ds/t/query.sql", checks=checks, checks_path="sql/ds/t/checks.sql")
    found = validate(q, {"ds.known"})
    if problem is None:
        assert found["problems"] == [] and found["reads"] == ["ds.known"]
    else:
        assert len(found["problems"]) == 1 and problem in found["problems"][0]


@pytest.mark.system
def test_the_command_lists_every_query_and_fails_on_a_broken_one(tmp_path):
    for name, sql in (("good_v1", "SELECT 1 AS n"), ("broken_v1", "SELECT * FROM `analysis.nowhere_v1`")):
        folder = tmp_path / "sql" / "analysis" / name
        folder.mkdir(parents=True)
        (folder / "query.sql").write_text(sql)
        (folder / "metadata.yaml").write_text("description: x\nscheduling: {date_partition_parameter: null}\n")
    done = subprocess.run([PINGPIPE, "etl", "validate", "--sql", str(tmp_path / "sql")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "ok   analysis.good_v1" in done.stdout and "ok   pingpipe_demo.active_users" in done.stdout
    assert "FAIL analysis.broken_v1" in done.stderr and "reads analysis.nowhere_v1, which no query or schema makes" in done.stderr
    assert "6 queries checked, 1 with problems" in done.stdout
