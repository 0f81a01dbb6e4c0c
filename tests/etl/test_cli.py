"""`pingpipe etl run` and `pingpipe lineage` as a user runs them: the user's queries beside the
generated ones, a three-level chain both ways, and bad SQL named by its file with nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pingpipe.loader.writers.duckdb import DuckDBWriter
from tests.helpers import PINGPIPE

pytestmark = pytest.mark.system

APP = "pingpipe_demo"


def write_query(root: Path, name: str, sql: str, *, view: bool = False) -> Path:
    dataset, table = name.split(".")
    folder = root / dataset / table
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("view.sql" if view else "query.sql")).write_text(sql)
    (folder / "metadata.yaml").write_text(f"description: {table}\nowners: [analyst@example.com]\n")
    return folder


def chain(root: Path) -> Path:
    """A user's three levels on top of the generated clients-daily table: a -> b -> c."""
    write_query(
        root,
        "analysis.a_v1",
        f"SELECT submission_date, country, COUNT(*) AS clients FROM "
        f"`{APP}_derived.baseline_clients_daily_v1` WHERE submission_date = @submission_date "
        "GROUP BY submission_date, country",
    )
    write_query(
        root,
        "analysis.b_v1",
        "SELECT submission_date, SUM(clients) AS clients FROM `analysis.a_v1` "
        "WHERE submission_date = @submission_date GROUP BY submission_date",
    )
    write_query(root, "analysis.c", "CREATE OR REPLACE VIEW `analysis.c` AS SELECT * FROM `analysis.b_v1`", view=True)
    return root


def lineage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PINGPIPE, "lineage", *args], capture_output=True, text=True, timeout=60)


def names(tree: dict, direction: str) -> list[str]:
    return [tree["table"]] + [n for child in tree[direction] for n in names(child, direction)]


def test_lineage_follows_a_three_level_chain_both_ways(tmp_path):
    sql = chain(tmp_path / "sql")
    up = lineage("analysis.c", "--upstream", "--sql", str(sql), "--format", "json")
    assert up.returncode == 0, up.stderr
    assert names(json.loads(up.stdout), "upstream") == [
        "analysis.c",
        "analysis.b_v1",
        "analysis.a_v1",
        f"{APP}_derived.baseline_clients_daily_v1",
        f"{APP}_stable.baseline_v1",
        f"{APP}_live.baseline_v1",
    ]
    down = lineage(f"{APP}_live.baseline_v1", "--downstream", "--sql", str(sql), "--format", "json")
    reached = names(json.loads(down.stdout), "downstream")
    assert {"analysis.a_v1", "analysis.b_v1", "analysis.c", f"{APP}.active_users", f"{APP}.baseline"} <= set(reached)
    text = lineage(f"{APP}.active_users")
    assert text.returncode == 0 and f"└── {APP}_live.baseline_v1 (live" in text.stdout
    missing = lineage("nope.nothing")
    assert missing.returncode == 1 and "no table of that name" in missing.stderr and "Traceback" not in missing.stderr


@pytest.fixture()
def data(tmp_path) -> Path:
    """A warehouse that holds a day of the generated clients-daily table, made by the user's query below."""
    data = tmp_path / "data"
    data.mkdir()
    writer = DuckDBWriter(data / "warehouse.duckdb")
    writer.query(f"CREATE SCHEMA {APP}_derived")
    writer.query(
        f"CREATE TABLE {APP}_derived.baseline_clients_daily_v1 AS SELECT DATE '2026-11-20' AS submission_date, "
        "c AS client_id, CASE WHEN c % 2 = 0 THEN 'GB' ELSE 'US' END AS country FROM range(5) t(c)"
    )
    writer.close()
    return data


def etl_run(data: Path, sql: Path, *more: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PINGPIPE, "etl", "run", "--data", str(data), "--sql", str(sql), "--date", "2026-11-20", *more],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_users_queries_run_in_order_and_a_rerun_gives_the_same_tables(data, tmp_path):
    sql = chain(tmp_path / "sql")
    first = etl_run(data, sql, "--table", "analysis.a_v1", "--table", "analysis.b_v1", "--table", "analysis.c")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "analysis.a_v1: 2 row(s) for 2026-11-20" in first.stdout and "analysis.b_v1: 1 row(s)" in first.stdout
    again = etl_run(data, sql, "--table", "analysis.a_v1", "--table", "analysis.b_v1", "--table", "analysis.c")
    assert again.stdout == first.stdout
    out = subprocess.run(
        [PINGPIPE, "query", "--data", str(data), "SELECT clients FROM analysis.c"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "5" in out.stdout


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELECT FROM WHERE", "does not parse as BigQuery SQL"),
        (
            "SELECT * FROM `analysis.nowhere_v1` WHERE d = @submission_date",
            "reads analysis.nowhere_v1, which no table, view or query makes",
        ),
    ],
)
def test_a_bad_query_is_named_by_its_file_and_writes_nothing_while_the_others_run(data, tmp_path, sql, message):
    root = chain(tmp_path / "sql")
    bad = write_query(root, "analysis.bad_v1", sql)
    result = etl_run(data, root, "--table", "analysis.bad_v1", "--table", "analysis.a_v1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(bad / "query.sql") in result.stderr and message in result.stderr
    assert "analysis.a_v1: 2 row(s)" in result.stdout  # the others run
    tables = subprocess.run(
        [PINGPIPE, "query", "--data", str(data), "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analysis'"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "bad_v1" not in tables


def test_a_users_query_that_reads_a_file_past_the_sql_check_is_refused_by_duckdb_itself(data, tmp_path):
    """The check lets a query read its own table (its earlier days), and DuckDB reads a dotted name no table
    has yet as a file: `secret.csv` is the file secret.csv. Only the connection's own lock stops that."""
    (tmp_path / "secret.csv").write_text("secret_word\nswordfish\n")
    root = tmp_path / "sql"
    write_query(root, "secret.csv", "SELECT @submission_date AS submission_date, secret_word FROM `secret.csv`")
    result = subprocess.run(
        [PINGPIPE, "etl", "run", "--data", str(data), "--sql", str(root), "--date", "2026-11-20"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )  # the file where DuckDB looks
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert str(root / "secret" / "csv" / "query.sql") in result.stderr and "disabled by configuration" in result.stderr
    tables = subprocess.run(
        [PINGPIPE, "query", "--data", str(data), "SELECT table_name FROM information_schema.columns WHERE table_schema = 'secret'"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tables.returncode == 0 and "csv" not in tables.stdout, tables.stdout + tables.stderr


def test_a_dependency_cycle_and_a_failing_query_stop_only_what_depends_on_them(data, tmp_path):
    root = tmp_path / "sql"
    write_query(root, "analysis.x_v1", "SELECT * FROM `analysis.y_v1`")
    write_query(root, "analysis.y_v1", "SELECT * FROM `analysis.x_v1`")
    write_query(
        root,
        "analysis.fine_v1",
        f"SELECT submission_date, COUNT(*) AS n FROM `{APP}_derived.baseline_clients_daily_v1`"
        " WHERE submission_date = @submission_date GROUP BY submission_date",
    )
    cyclic = etl_run(data, root, "--table", "analysis.x_v1", "--table", "analysis.y_v1", "--table", "analysis.fine_v1")
    assert cyclic.returncode == 1 and "is in a dependency cycle" in cyclic.stderr and "query.sql" in cyclic.stderr
    assert "analysis.fine_v1: 1 row(s)" in cyclic.stdout
    root = chain(tmp_path / "sql2")
    (root / "analysis" / "a_v1" / "query.sql").write_text(  # runs on DuckDB, then fails there: a division by a string
        "SELECT submission_date, 1 / 'x' AS clients FROM `pingpipe_demo_derived.baseline_clients_daily_v1` "
        "WHERE submission_date = @submission_date"
    )
    write_query(
        root,
        "analysis.other_v1",
        "SELECT submission_date, COUNT(*) AS n FROM "
        f"`{APP}_derived.baseline_clients_daily_v1` WHERE submission_date = @submission_date "
        "GROUP BY submission_date",
    )
    result = etl_run(
        data, root, *[a for t in ("analysis.a_v1", "analysis.b_v1", "analysis.c", "analysis.other_v1") for a in ("--table", t)]
    )
    assert result.returncode == 1 and str(root / "analysis" / "a_v1" / "query.sql") in result.stderr
    assert "analysis.b_v1" in result.stdout and "did not run" in result.stdout  # downstream: waits
    assert "analysis.other_v1: 1 row(s) for 2026-11-20" in result.stdout  # unrelated: ran


def test_a_table_no_query_makes_is_a_mistake_exit_2_with_a_did_you_mean_and_nothing_runs(data, tmp_path):
    sql = chain(tmp_path / "sql")
    typo = etl_run(data, sql, "--table", "analysis.a_v1", "--table", "analysis.b_v2")
    assert typo.returncode == 2 and "Traceback" not in typo.stderr, typo.stdout + typo.stderr
    assert "analysis.b_v2: no query makes this table (did you mean analysis.b_v1?)" in typo.stderr
    assert "analysis.a_v1" not in typo.stdout  # refused before anything ran
    out = subprocess.run(
        [
            PINGPIPE,
            "query",
            "--data",
            str(data),
            "--format",
            "csv",
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'analysis'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout == "n\n0\n", out.stdout + out.stderr
    nothing = etl_run(data, sql, "--table", "nope.nope")
    assert nothing.returncode == 2 and "nope.nope: no query makes this table (the queries make " in nothing.stderr
    assert "no query to run" not in nothing.stdout


def test_a_failing_fail_check_stops_what_reads_the_table_a_warn_only_reports_and_etl_check_runs_them_alone(data, tmp_path):
    sql = chain(tmp_path / "sql")
    (sql / "analysis" / "a_v1" / "checks.sql").write_text(
        '#fail\n{{ is_unique(["submission_date"], "submission_date = @submission_date") }}\n\n'
        '#warn\n{{ min_row_count(10, "submission_date = @submission_date") }}\n'
    )
    ran = etl_run(data, sql, "--table", "analysis.a_v1", "--table", "analysis.b_v1")
    assert ran.returncode == 1
    assert "analysis.a_v1: 2 row(s) for 2026-11-20" in ran.stdout and "analysis.a_v1: 0 of 2 check(s) passed" in ran.stdout
    assert "check 1 (#fail) failed: 1 value(s) of (submission_date) are not unique" in ran.stderr
    assert "check 2 (#warn) failed: 2 row(s), fewer than 10" in ran.stdout  # reported, not an error
    assert "b_v1/query.sql: not run, it reads analysis.a_v1, which did not run" in ran.stdout

    def etl_check(*tables: str) -> subprocess.CompletedProcess:
        args = [PINGPIPE, "etl", "check", "--data", str(data), "--sql", str(sql), "--date", "2026-11-20"]
        return subprocess.run(args + [a for t in tables for a in ("--table", t)], capture_output=True, text=True, timeout=120)

    generated = etl_check(f"{APP}_derived.baseline_clients_daily_v1")  # the generated table's own checks, on its rows
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert f"{APP}_derived.baseline_clients_daily_v1: 3 of 3 check(s) passed" in generated.stdout
    mine = etl_check("analysis.a_v1")
    assert mine.returncode == 1 and "check 1 (#fail) failed" in mine.stderr
