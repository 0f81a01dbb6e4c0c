"""A command's warehouse is resolved once from --data/--warehouse: the running `up` (its admin port,
here in this process on a real socket), DATA's DuckDB file, a DuckDB file, or BigQuery; each mistake
is its one line. The tasks then ask the running `up`, else open the file."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.up import admin, client, tasks
from pingpipe.up.target import BIGQUERY, DUCKDB, UP, CommandError, Target, parse_warehouse, resolve

PINGS = TableId("app_live", "ping_v1")


def warehouse(data: Path, rows: int = 2) -> Path:
    """DATA with a warehouse of one table of `rows` rows."""
    data.mkdir(parents=True, exist_ok=True)
    writer = DuckDBWriter(data / "warehouse.duckdb")
    try:
        writer.ensure_table(PINGS, [{"name": "document_id", "type": "STRING", "mode": "NULLABLE"}])
        for i in range(rows):
            writer.query(f"INSERT INTO app_live.ping_v1 VALUES ('d{i}')")
    finally:
        writer.close()
    return data


def stale_state(data: Path, port: int = 1) -> None:
    """A state file as `up` writes it, naming a live process (this one) whose admin port does not answer."""
    data.mkdir(parents=True, exist_ok=True)
    admin.write_private(
        data / client.STATE_FILE, f'{{"pid": {os.getpid()}, "admin_port": {port}, "warehouse": "{data / "warehouse.duckdb"}"}}'.encode()
    )


@pytest.fixture
def running(tmp_path):
    """`up`'s admin port on DATA's warehouse, in this process, found through DATA's state file."""
    data = warehouse(tmp_path / "running", rows=3)
    writer = DuckDBWriter(data / "warehouse.duckdb")
    server = admin.AdminServer(writer, lambda: {"backlog": {}, "lag_seconds": 0})
    server.start()
    server.write_state(data / client.STATE_FILE, {"pid": os.getpid(), "warehouse": str(data / "warehouse.duckdb")})
    yield data
    server.close()
    writer.close()


def test_without_warehouse_and_no_up_the_target_is_datas_file_which_need_not_exist(tmp_path):
    target = resolve(tmp_path / "d")
    assert target == Target(DUCKDB, path=tmp_path / "d" / "warehouse.duckdb", data=tmp_path / "d")
    assert target.spec == f"duckdb:{tmp_path / 'd' / 'warehouse.duckdb'}" and not (tmp_path / "d").exists()


def test_a_running_up_on_data_is_the_target_and_answers_for_its_file(running):
    target = resolve(running)
    assert target.kind == UP and target.running()
    assert tasks.query(target, "SELECT count(*) AS n FROM app_live.ping_v1")["rows"] == [[3]]
    info = tasks.status(target)
    assert info["running"] and {"table": "app_live.ping_v1", "rows": 3} in info["tables"]


def test_a_command_that_writes_the_file_itself_is_given_the_file_even_while_up_runs_and_told_who_holds_it(running):
    target = resolve(running, up=False)
    assert target.kind == DUCKDB
    with pytest.raises(CommandError, match=rf"^pingpipe up \(PID {os.getpid()}\) holds {running / 'warehouse.duckdb'}: stop it first"):
        target.require_free()


def test_an_up_that_stopped_answering_leaves_its_file_to_open(tmp_path):
    data = warehouse(tmp_path / "d")
    stale_state(data)
    target = resolve(data)
    assert target.kind == UP and target.ask("GET", "/status") is None
    assert tasks.query(target, "SELECT count(*) AS n FROM app_live.ping_v1")["rows"] == [[2]]
    assert tasks.status(target)["running"] is False


def test_without_up_the_tasks_open_datas_file(tmp_path):
    data = warehouse(tmp_path / "d")
    target = resolve(data)
    assert tasks.query(target, "SELECT count(*) AS n FROM app_live.ping_v1")["rows"] == [[2]]
    info = tasks.status(target)
    assert info["running"] is False and info["backlog"]["sealed_segments"] == 0


@pytest.mark.parametrize(
    "value, kinds, target",
    [
        ("duckdb:w.duckdb", (DUCKDB, BIGQUERY), Target(DUCKDB, path=Path("w.duckdb"))),
        ("bigquery:my-project", (DUCKDB, BIGQUERY), Target(BIGQUERY, project="my-project")),
        ("bigquery:my-project", (BIGQUERY,), Target(BIGQUERY, project="my-project")),
    ],
)
def test_a_warehouse_option_names_its_target_whatever_runs_on_data(running, value, kinds, target):
    resolved = resolve(running, value, kinds)
    assert resolved == target and resolved.spec == value


MISTAKES = [
    ("w.duckdb", (DUCKDB, BIGQUERY), "'w.duckdb': expected duckdb:PATH or bigquery:PROJECT (did you mean duckdb:w.duckdb?)"),
    ("sqlite:w.db", (DUCKDB, BIGQUERY), "'sqlite:w.db': expected duckdb:PATH or bigquery:PROJECT"),
    ("duckdb", (DUCKDB, BIGQUERY), "'duckdb': give the DuckDB file as duckdb:PATH"),
    ("duckdb:", (DUCKDB, BIGQUERY), "'duckdb:': give the DuckDB file as duckdb:PATH"),
    ("bigquery:", (BIGQUERY,), "'bigquery:': give the project as bigquery:PROJECT"),
    ("duckdb:x", (BIGQUERY,), "'duckdb:x': expected bigquery:PROJECT (a DuckDB warehouse is --data's)"),
    ("bigquery:p", (DUCKDB,), "this command runs on the DuckDB warehouse (duckdb:PATH, or --data DIR)"),
]


@pytest.mark.parametrize("value, kinds, message", MISTAKES, ids=[m[0] + "-" + "/".join(m[1]) for m in MISTAKES])
def test_each_warehouse_mistake_is_its_one_line_blaming_the_option(value, kinds, message):
    with pytest.raises(CommandError) as caught:
        parse_warehouse(value, kinds)
    assert str(caught.value) == message and caught.value.option == "--warehouse"


def test_a_missing_warehouse_is_one_line_that_says_how_to_make_it(tmp_path):
    with pytest.raises(CommandError) as caught:
        tasks.query(resolve(tmp_path / "d"), "SELECT 1")
    assert str(caught.value) == f"no warehouse at {tmp_path / 'd' / 'warehouse.duckdb'}: start `pingpipe up --data {tmp_path / 'd'}` first"
    assert caught.value.option is None
    with pytest.raises(CommandError, match=rf"^no warehouse at {tmp_path / 'w.duckdb'}$"):
        tasks.dedupe(resolve(tmp_path, f"duckdb:{tmp_path / 'w.duckdb'}"), dt.date(2026, 1, 1))


def test_a_day_that_has_not_ended_is_refused_before_any_warehouse_is_opened(tmp_path):
    with pytest.raises(CommandError) as caught:
        tasks.cycle(resolve(tmp_path / "nodata"), dt.date(2099, 1, 1))
    assert str(caught.value).startswith("2099-01-01 has not ended (UTC)") and caught.value.option == "--date"
