"""Every command's mistakes: one line, a non-zero exit, never a traceback (the real console script)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pingpipe.cli import main
from pingpipe.up import client
from pingpipe.up.warehouse import QueryError
from tests.helpers import PINGPIPE, free_port
from tests.up.conftest import start_up

from .fixtures import SCHEMAS


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PINGPIPE, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def assert_one_line(done: subprocess.CompletedProcess, code: int, says: str) -> None:
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out
    assert done.returncode == code, out
    assert says in out, out
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, done.stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("cli")
    (w / "empty").mkdir()
    (w / "bad.mmdb").write_bytes(b"not a database")
    (w / "routes.json").write_text('[["/submit/*", "raw"]]')
    mps_root = w / "mps-root"
    mps_root.mkdir()
    (mps_root / "schemas").symlink_to(SCHEMAS)
    return w


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    up = start_up(tmp_path_factory.mktemp("running") / "data")
    yield up
    os.killpg(up.proc.pid, signal.SIGKILL)
    up.proc.wait(timeout=20)


CASES = [
    # (args, exit code, what the one line says); {w} is the work folder
    (["up", "--port", "99999", "--data", "{w}/d"], 2, "99999 is not in the range"),
    (["up", "--geoip-db", "{w}/bad.mmdb", "--data", "{w}/d"], 1, "is not a MaxMind database"),
    (["up", "--schemas", "{w}/empty", "--data", "{w}/d"], 1, "no schemas under"),
    (["edge", "--port", "99999", "--queue", "{w}/q"], 1, "not a TCP port"),
    (["decode", "--input", "file:{w}/nomatch*", "--output", "file:{w}/o", "--errors", "file:{w}/e"], 2, "no file matches"),
    (
        ["decode", "--geoip-db", "{w}/bad.mmdb", "--input", "file:x", "--output", "file:o", "--errors", "file:e"],
        2,
        "is not a MaxMind database",
    ),
    (["load", "--input", "file:{w}/nomatch*", "--data", "{w}/d"], 1, "no file matches"),
    (
        ["decode", "--input", "file:x", "--output", "bigquery:my-project"],
        2,
        "a bigquery: output makes its datasets where --bigquery-location",
    ),
    (["dedupe", "--warehouse", "{w}/w.duckdb", "--date", "2026-01-01"], 2, "did you mean duckdb:"),
    (["dedupe", "--warehouse", "sqlite:w.db", "--date", "2026-01-01"], 2, "expected duckdb:PATH or bigquery:PROJECT"),
    (["query", "SELECT 1", "--data", "{w}/nodata"], 1, "no warehouse at"),
    (["status", "--data", "{w}/nodata"], 1, "no warehouse at"),
    (["schemas", "check", "{w}/empty"], 1, "no schemas under"),
    (["schemas", "build", "{w}/empty", "--out", "{w}/o"], 1, "no *.schema.json files"),
    (["schemas", "check", "{w}/mps-root"], 1, "did you mean"),
    (["schemas", "init", "{w}"], 1, "is not empty"),
    (["logs", "ingest", "--data", "{w}/d", "{w}/nope.log"], 2, "no such file"),
    (["dictionary", "build", "--out", "/proc/pingpipe-cannot-write"], 1, "cannot write"),
    (["dictionary", "serve", "--warehouse", "duckdb:x"], 2, "give bigquery:PROJECT"),
    (["query", "--dialect", "bigquery", "SELECT @day", "--data", "{w}/nodata"], 1, "the query has a @parameter"),
    (["lineage", "nope.table"], 1, "no table of that name"),
    (["shred", "--warehouse", "duckdb:x"], 2, "expected bigquery:PROJECT (a DuckDB warehouse is --data's)"),
    (["etl", "run", "--data", "{w}/nodata"], 1, "no warehouse at"),
    (["cycle", "--date", "2099-01-01", "--data", "{w}/nodata"], 2, "2099-01-01 has not ended (UTC)"),
    (
        ["logs", "ingest", "--data", "{w}/d", "--service", "fxa auth!", "{w}/routes.json"],
        2,
        "'fxa auth!' cannot name a dataset: a service name is a letter, then at most 63 letters, digits, '_' or '-' (e.g. fxa_auth)",
    ),
]


@pytest.mark.system
@pytest.mark.parametrize("args, code, says", CASES, ids=[" ".join(c[0][:2]) + f"-{i}" for i, c in enumerate(CASES)])
def test_a_mistake_is_one_line_and_a_non_zero_exit(work, args, code, says):
    assert_one_line(run(*[a.format(w=work) for a in args]), code, says)


@pytest.mark.system
def test_edge_without_pubsub_credentials_says_how_to_give_them(work):
    env = {k: v for k, v in os.environ.items() if k != "PUBSUB_EMULATOR_HOST"}
    env.update(GOOGLE_APPLICATION_CREDENTIALS=str(work / "nope.json"), HOME=str(work), CLOUDSDK_CONFIG=str(work / "gcloud"))
    done = run(
        "edge",
        "--pubsub-project",
        "p",
        "--route-table",
        str(work / "routes.json"),
        "--queue",
        str(work / "q"),
        "--port",
        str(free_port()),
        env=env,
    )
    assert_one_line(done, 1, "no Google credentials for Pub/Sub project p")


@pytest.mark.system
def test_a_second_up_on_the_same_data_names_the_first(running):
    done = run("up", "--data", str(running.data), "--port", str(free_port()))
    assert_one_line(done, 1, f"already running on {running.data} (PID {running.proc.pid})")


@pytest.mark.system
def test_a_taken_admin_port_is_one_line(work):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("up", "--data", str(work / "admin"), "--port", str(free_port()), "--admin-port", str(port))
    assert_one_line(done, 1, f"the admin port could not start on 127.0.0.1:{port}")


@pytest.mark.system
def test_load_into_the_warehouse_a_running_up_holds_says_so(running, work):
    done = run("load", "--input", f"file:{SCHEMAS / 'eng-workflow' / 'hgpush' / '*.json'}", "--data", str(running.data))
    assert_one_line(done, 1, f"pingpipe up (PID {running.proc.pid}) holds")


@pytest.mark.system
def test_a_query_of_an_unknown_table_points_to_status(running):
    done = run("query", "SELECT * FROM nope.nothing", "--data", str(running.data))
    assert_one_line(done, 1, "`pingpipe status` lists the tables")


@pytest.mark.system
def test_the_old_format_name_still_works_and_says_it_is_deprecated(running):
    done = run("query", "SELECT 1 AS one", "--format", "table", "--data", str(running.data))
    assert done.returncode == 0 and "one" in done.stdout
    assert "--format table is deprecated" in done.stderr


@pytest.mark.system
def test_a_cycle_of_a_day_that_has_not_ended_is_refused_by_the_command_and_by_a_running_up(running):
    today = dt.datetime.now(dt.timezone.utc).date()
    done = run("cycle", "--date", str(today), "--data", str(running.data))
    assert_one_line(done, 2, f"{today} has not ended (UTC)")
    with pytest.raises(QueryError, match="2099-01-01 has not ended"):  # the admin port, asked directly
        client.call(running.data, "POST", "/cycle?date=2099-01-01")
    last = client.call(running.data, "GET", "/status")["last_cycle"]
    assert last is None or last["day"] < str(today)


@pytest.mark.system
def test_etl_run_of_a_table_no_query_makes_is_exit_2_with_a_did_you_mean(running):
    done = run("etl", "run", "--table", "pingpipe_demo.active_user", "--data", str(running.data))
    assert_one_line(done, 2, "pingpipe_demo.active_user: no query makes this table (did you mean pingpipe_demo.active_users?)")
    done = run("etl", "run", "--table", "nope.nope", "--data", str(running.data))
    assert_one_line(done, 2, "nope.nope: no query makes this table (the queries make ")
    assert "no query to run" not in done.stdout


@pytest.mark.system
def test_status_in_text_shows_the_last_cycle_as_the_readme_says(running):
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    deadline = time.monotonic() + 60
    while not client.call(running.data, "GET", "/status")["last_cycle"] and time.monotonic() < deadline:
        time.sleep(0.2)  # `up` runs yesterday's cycle by itself once it has started
    done = run("status", "--data", str(running.data))
    assert done.returncode == 0, done.stderr
    assert f"last cycle: {yesterday}: stable 0 row(s), shredded 0, expired 0, derived tables " in done.stdout, done.stdout


@pytest.mark.system
def test_a_service_name_with_a_dash_is_taken_and_the_command_says_the_dataset_it_names(work, tmp_path):
    log = tmp_path / "auth.log"
    log.write_text('{"Type": "request.summary", "Logger": "fxa-auth", "Fields": {"path": "/"}}\n')
    done = run("logs", "ingest", "--data", str(tmp_path / "d"), "--service", "fxa-auth", str(log))
    assert done.returncode == 0 and "(service fxa-auth: tables fxa_auth_logs_live.<Type>)" in done.stdout, done.stderr
    refused = run("logs", "ingest", "--data", str(tmp_path / "d2"), "--service", "fxa auth!", str(log))
    assert refused.returncode == 2 and not (tmp_path / "d2").exists()  # refused before anything is queued


@pytest.mark.system
def test_audit_and_shred_answer_in_json_as_status_and_lineage_do(running):
    audit = run("audit", "--format", "json", "--data", str(running.data))
    assert audit.returncode == 0, audit.stderr
    answer = json.loads(audit.stdout)
    assert answer["findings"] == [] and answer["rows"] >= 0 and "deep" not in answer
    shred = run("shred", "--dry-run", "--format", "json", "--data", str(running.data))
    assert shred.returncode == 0 and json.loads(shred.stdout) == {"dry_run": True, "rows": {}, "skipped": [], "scope": "every partition"}, (
        shred.stderr
    )


def commands(group: click.Group, path=()):
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def test_every_command_answers_dash_h():
    """In process, through the same `main` the entry point runs (the subprocess tests above run it for real)."""
    runner = CliRunner()
    for path in commands(main):
        done = runner.invoke(main, [*path, "-h"], prog_name="pingpipe")
        assert done.exit_code == 0 and "Usage: pingpipe" in done.output and done.exception is None, (path, done.output)


def test_every_environment_variable_is_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    names = set()

    def walk(command):
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                names.add(param.envvar)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(main)
    assert names and not [n for n in sorted(names) if f"`{n}`" not in readme]


@pytest.mark.system
def test_a_reader_that_leaves_early_stops_the_command_quietly_as_a_unix_tool(tmp_path):
    """`pingpipe query … | head -1`: no error line, no traceback; the exit status of a closed pipe."""
    from pingpipe.loader.writers.duckdb import DuckDBWriter

    DuckDBWriter(tmp_path / "warehouse.duckdb").close()
    proc = subprocess.Popen(
        [PINGPIPE, "query", "--data", str(tmp_path), "--format", "json", "SELECT * FROM range(200000)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().startswith(b'{"range":')
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == b""
