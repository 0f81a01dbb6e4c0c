"""BigQuery SQL on DuckDB (etl/sql.py): a table's arrays unnested in the select list give the rows
DuckDB's own lateral join gives, and a statement that cannot run here is refused in one line."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from pingpipe.etl.sql import bigquery_to_duckdb

ROWS = """
CREATE SCHEMA ds;
CREATE TABLE ds.pings (id INTEGER, events STRUCT(name VARCHAR, extra STRUCT(key VARCHAR, value VARCHAR)[])[], tags VARCHAR[]);
INSERT INTO ds.pings VALUES
  (1, [{'name': 'a', 'extra': [{'key': 'k', 'value': 'x'}, {'key': 'j', 'value': 'y'}]}, {'name': 'b', 'extra': []}], ['t1', 't2']),
  (2, [], NULL),
  (3, NULL, ['t3']),
  (4, [{'name': 'a', 'extra': NULL}], []);
"""

QUERIES = [
    "SELECT id, e.name FROM `ds.pings`, UNNEST(events) AS e",
    "SELECT t.id, e.name, x.key, x.value FROM `project.ds.pings` AS t, UNNEST(t.events) AS e, UNNEST(e.extra) AS x "
    "WHERE x.key = 'k' OR e.name = 'a'",
    "SELECT id, count(*) AS n FROM `ds.pings` CROSS JOIN UNNEST(tags) AS tag GROUP BY id",
    "WITH p AS (SELECT id, tag FROM `ds.pings`, UNNEST(tags) AS tag) SELECT tag FROM p WHERE id < 3",
]


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute(ROWS)
    return c


@pytest.mark.parametrize("sql", QUERIES)
def test_unnest_in_the_select_list_gives_the_rows_of_duckdbs_lateral_join(con, sql):
    rewritten = bigquery_to_duckdb(sql)
    assert "CROSS JOIN UNNEST" not in rewritten.upper()
    lateral = sqlglot.transpile(sql.replace("`project.ds.pings`", "`ds.pings`"), read="bigquery", write="duckdb")[0]
    assert "UNNEST" in lateral.upper() and sorted(con.execute(rewritten).fetchall()) == sorted(con.execute(lateral).fetchall())
    assert con.execute(rewritten).fetchall()  # rows to compare, not two empty results


def test_an_unnest_with_its_offset_or_a_condition_keeps_the_join():
    kept = bigquery_to_duckdb("SELECT id, o FROM `ds.pings`, UNNEST(tags) AS tag WITH OFFSET AS o")
    assert "(SELECT" not in kept


@pytest.mark.parametrize(
    "sql, said",
    [
        ("SELECT @day", "has a @parameter: write its value in the query"),
        ("SELECT 1; SELECT 2", "expected one statement, found 2"),
        ("SELECT FROM WHERE (", "does not parse as BigQuery SQL"),
    ],
)
def test_what_cannot_run_here_is_refused_in_one_line(sql, said):
    with pytest.raises(ValueError) as refused:
        bigquery_to_duckdb(sql)
    assert said in str(refused.value) and "\n" not in str(refused.value)
