"""checks.sql in bigquery-etl's syntax: each macro passes on a day that holds what it asks and fails,
saying what it found, on one that does not; a check needs its marker; a query folder's checks.sql
is read with it."""

from __future__ import annotations

import datetime as dt

import pytest

from pingpipe.etl.checks import checks_of
from pingpipe.etl.queries import Query, QueryError, load_dir
from pingpipe.etl.run import run_checks
from pingpipe.loader.writers.duckdb import DuckDBWriter

GOOD, BAD = dt.date(2026, 12, 1), dt.date(2026, 12, 2)
DAY = "submission_date = @submission_date"
CHECKS = f"""
-- one of each macro
#fail
{{{{ is_unique(["client_id"], "{DAY}") }}}}
#fail
{{{{ not_null(["client_id", "country"], "{DAY}") }}}}
#warn
{{{{ min_row_count(3, "{DAY}") }}}}
#fail
{{{{ in_range(["n"], 0, 10, "{DAY}") }}}}
#warn
{{{{ accepted_values("country", ["DE", "FR"], "{DAY}") }}}}
#fail
{{{{ matches_pattern("country", "^[A-Z]{{2}}$", "{DAY}", 0) }}}}
#warn
{{{{ row_count_within_past_partitions_avg(1, 20) }}}}
"""


@pytest.fixture
def writer(tmp_path):
    w = DuckDBWriter(tmp_path / "warehouse.duckdb")
    w.con.execute("CREATE SCHEMA ds")
    w.con.execute("CREATE TABLE ds.t (submission_date DATE, client_id VARCHAR, n BIGINT, country VARCHAR)")
    good = [("a", 1, "DE"), ("b", 2, "FR"), ("c", 3, "DE")]
    bad = [("a", 1, "DE"), ("a", 20, "de"), ("b", 2, None), ("c", 3, "US"), ("d", 4, "DE"), ("e", 5, "DE")]
    for day, rows in ((GOOD, good), (BAD, bad)):
        w.con.executemany("INSERT INTO ds.t VALUES (?, ?, ?, ?)", [(day, *r) for r in rows])
    yield w
    w.close()


def query(checks: str) -> Query:
    return Query("ds", "t", "SELECT 1", "sql/ds/t/query.sql", checks=checks, checks_path="sql/ds/t/checks.sql")


def test_each_macro_passes_on_a_good_day_and_fails_on_a_bad_one_saying_what_it_found(writer):
    q = query(CHECKS)
    assert [(c.number, c.marker) for c in checks_of(q)] == [
        (1, "fail"),
        (2, "fail"),
        (3, "warn"),
        (4, "fail"),
        (5, "warn"),
        (6, "fail"),
        (7, "warn"),
    ]
    assert [o["passed"] for o in run_checks(writer, q, GOOD)] == [True] * 7
    bad = {o["check"]: o for o in run_checks(writer, q, BAD)}
    assert [n for n, o in bad.items() if not o["passed"]] == [1, 2, 4, 5, 6, 7]
    assert bad[1]["message"].startswith("1 value(s) of (client_id) are not unique")
    assert bad[2]["message"].startswith("NULL values in country")
    assert "outside [0, 10]" in bad[4]["message"] and "2 value(s) of country not accepted" in bad[5]["message"]
    assert "6 row(s), more than 20% from the past 1 days' average of 3" in bad[7]["message"]


def test_a_check_needs_its_marker_and_a_template_that_renders():
    with pytest.raises(QueryError, match="sql/ds/t/checks.sql: each check follows a line #fail or #warn"):
        checks_of(query("SELECT 1"))
    with pytest.raises(QueryError, match="does not render"):
        checks_of(query("#fail\n{{ is_unique( }}"))


def test_a_query_folders_checks_sql_comes_with_its_query(tmp_path):
    folder = tmp_path / "ds" / "t"
    folder.mkdir(parents=True)
    (folder / "query.sql").write_text("SELECT 1 AS n")
    (folder / "checks.sql").write_text("#warn\n{{ min_row_count(1) }}\n")
    (q,) = load_dir(tmp_path)
    assert q.checks_path == str(folder / "checks.sql") and [c.marker for c in checks_of(q)] == ["warn"]
