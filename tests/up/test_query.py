"""`pingpipe query` reads the warehouse's tables and nothing else, through a running `up` and on a direct
read-only open; the admin port answers its owner only; a bad request or a result beyond 64 bits gets an
answer, never a crash, and the CLI one line, never a traceback. Real `up` processes over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import duckdb
import orjson
import pytest

from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter, connect, cursor, disconnect, locked_down
from pingpipe.up import admin, client, warehouse
from tests.fixtures.demo import demo_ping
from tests.helpers import PINGPIPE
from tests.up.conftest import start_up

SEEN = "_pingpipe.seen_document_ids"
HOST_READS = [
    "SELECT * FROM read_text('/etc/shadow')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/root/*')",
    "SELECT * FROM read_blob('/proc/self/environ')",
]


HELLO = orjson.dumps(demo_ping({"counter": {"demo.launches": 7}}, seq=1, sdk="curl", channel="beta"))


def send(port: int, doc_id: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/submit/pingpipe-demo/hello/1/{doc_id}",
        data=HELLO,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def attempts(folder: Path) -> list[str]:
    """Each a way a query once wrote, read the host, or changed a setting (the adversarial test's list)."""
    return [
        "EXPLAIN ANALYZE CREATE TABLE pwned (a INT)",
        f"EXPLAIN ANALYZE INSERT INTO {SEEN} VALUES ('pwned', 0)",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{folder / 'written.csv'}'",
        f"EXPLAIN ANALYZE DELETE FROM {SEEN}",
        *HOST_READS,
        f"SELECT * FROM read_text('{folder / 'secret.txt'}')",
        "PRAGMA force_checkpoint",
        "SET threads = 1",
        "SET enable_external_access = true",
        "ATTACH ':memory:' AS other",
        f"ATTACH '{folder / 'other.duckdb'}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"SELECT 1; COMMIT; DELETE FROM {SEEN}",
        f"EXPLAIN ANALYZE COMMIT; DELETE FROM {SEEN}",
        f"BEGIN TRANSACTION; DELETE FROM {SEEN}; COMMIT",
    ]


def engine_attempts(folder: Path) -> list[str]:
    """The attempts DuckDB refuses by itself, with no statement check in front (ATTACH ':memory:' it allows)."""
    return [sql for sql in attempts(folder) if sql != "ATTACH ':memory:' AS other"]


def accepted(run, sqls: list[str]) -> list[str]:
    """The SQL that ran (should be none)."""
    ran = []
    for sql in sqls:
        try:
            run(sql)
            ran.append(sql)
        except warehouse.QueryError:
            pass
    return ran


def seen_rows(query) -> list:
    return sorted(tuple(r) for r in query(f"SELECT document_id, seen_at FROM {SEEN}")["rows"])


@pytest.mark.system
def test_through_a_running_up_no_query_writes_reads_host_files_or_changes_settings_and_dedupe_survives(tmp_path):
    (tmp_path / "secret.txt").write_text("not for queries")
    data = tmp_path / "data"
    up = start_up(data)
    try:
        ids = [str(uuid.uuid4()) for _ in range(3)]
        assert [send(up.port, i) for i in ids] == [200] * 3
        up.wait_committed(3)

        def ask(sql):
            return client.call(data, "POST", "/query", sql.encode())

        before = seen_rows(ask)
        assert {r[0] for r in before} == set(ids)

        assert accepted(ask, attempts(tmp_path)) == []

        assert seen_rows(ask) == before
        assert ask("SELECT count(*) FROM information_schema.tables WHERE table_name = 'pwned'")["rows"] == [[0]]
        assert not (tmp_path / "written.csv").exists() and not (tmp_path / "other.duckdb").exists()
        # Queries still work: a SELECT, EXPLAIN ANALYZE of one, DESCRIBE, and several statements.
        assert ask("SELECT count(*) AS n FROM pingpipe_demo_live.hello_v1") == {"columns": ["n"], "rows": [[3]]}
        assert "analyzed_plan" in ask("EXPLAIN ANALYZE SELECT count(*) FROM pingpipe_demo_live.hello_v1")["rows"][0]
        assert ["document_id"] in [row[:1] for row in ask("DESCRIBE pingpipe_demo_live.hello_v1")["rows"]]
        assert ask("SELECT 1; SELECT 2 AS two")["rows"] == [[2]]
        assert send(up.port, ids[0]) == 200  # sent again: a duplicate, in this run
        assert up.wait_committed(4)["committed"]["duplicates"] == 1
        assert up.stop() == 0
    finally:
        if up.proc.poll() is None:
            os.killpg(up.proc.pid, signal.SIGKILL)
            up.proc.wait(timeout=20)

    again = start_up(data)  # the dedupe window is read back from _pingpipe.seen_document_ids
    try:
        assert send(again.port, ids[1]) == 200
        assert again.wait_committed(5)["committed"]["duplicates"] == 2
        assert again.stop() == 0
    finally:
        if again.proc.poll() is None:
            os.killpg(again.proc.pid, signal.SIGKILL)
            again.proc.wait(timeout=20)


def make_warehouse(path: Path) -> list:
    """A closed warehouse file with a dedupe table in it; its rows."""
    writer = DuckDBWriter(path)
    writer.con.execute(f"CREATE TABLE {SEEN} (document_id VARCHAR, seen_at DOUBLE)")
    writer.con.execute(f"INSERT INTO {SEEN} VALUES ('a', 1), ('b', 2)")
    writer.close()
    return [("a", 1.0), ("b", 2.0)]


@pytest.mark.system
def test_on_a_direct_read_only_open_no_query_writes_reads_host_files_or_changes_settings(tmp_path):
    (tmp_path / "secret.txt").write_text("not for queries")
    path = tmp_path / "data" / "warehouse.duckdb"
    rows = make_warehouse(path)
    con = connect(path, read_only=True)  # as `pingpipe query` opens it when `up` is not running
    try:

        def ask(sql):
            return warehouse.run_query(con, sql)

        assert accepted(ask, attempts(tmp_path)) == []
        assert seen_rows(ask) == rows
        assert ask("SELECT count(*) FROM information_schema.tables WHERE table_name = 'pwned'")["rows"] == [[0]]
    finally:
        disconnect(con, path)
    assert not (tmp_path / "written.csv").exists() and not (tmp_path / "other.duckdb").exists()
    cli = subprocess.run([PINGPIPE, "query", "--data", str(tmp_path / "data"), HOST_READS[1]], capture_output=True, text=True, timeout=60)
    assert cli.returncode != 0 and "root:" not in cli.stdout and "disabled by configuration" in cli.stderr


def test_duckdb_itself_refuses_every_attempt_on_a_read_only_open_without_the_statement_check(tmp_path):
    (tmp_path / "secret.txt").write_text("not for queries")
    path = tmp_path / "warehouse.duckdb"
    rows = make_warehouse(path)
    con = connect(path, read_only=True)
    reader = cursor(con)
    try:

        def run(sql):
            return warehouse.run_statements(reader, reader.extract_statements(sql))

        assert accepted(run, engine_attempts(tmp_path)) == []
        assert sorted(reader.execute(f"SELECT * FROM {SEEN}").fetchall()) == rows
    finally:
        reader.close()
        disconnect(con, path)


def test_duckdb_itself_refuses_every_attempt_on_a_locked_down_writer_which_still_appends_arrow_and_ndjson_rows(tmp_path):
    (tmp_path / "secret.txt").write_text("not for queries")
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    try:
        writer.con.execute(f"CREATE TABLE {SEEN} (document_id VARCHAR, seen_at DOUBLE)")
        writer.con.execute(f"INSERT INTO {SEEN} VALUES ('a', 1)")
        assert locked_down(writer.con)  # as it opened: nothing to do before serving queries
        reader = cursor(writer.con)

        def run(sql):
            return warehouse.run_statements(reader, reader.extract_statements(sql))

        assert accepted(run, engine_attempts(tmp_path)) == []
        reader.close()
        table, fields = TableId("app_live", "ping_v1"), [{"name": "a", "type": "INT64", "mode": "NULLABLE"}]
        assert writer.write({table: (fields, [{"a": 1}])}) == 1  # an Arrow table
        assert writer.write({table: (fields, [b'{"a": 2}'])}) == 1  # serialized rows: read_json from the writer's temp folder
        assert writer.query("SELECT a FROM app_live.ping_v1 ORDER BY a").fetchall() == [(1,), (2,)]
        assert writer.query(f"SELECT * FROM {SEEN}").fetchall() == [("a", 1.0)]
        with pytest.raises(duckdb.Error):
            writer.query("SELECT * FROM read_text(?)", [str(tmp_path / "secret.txt")])
    finally:
        writer.close()


# -- the admin port ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    running = start_up(tmp_path_factory.mktemp("query") / "data")
    yield running
    if running.proc.poll() is None:
        os.killpg(running.proc.pid, signal.SIGKILL)
        running.proc.wait(timeout=20)


def raw(port: int, request: bytes, wait: float = admin.READ_SECONDS + 10) -> bytes:
    """Send `request` and keep the connection open; all the server answers until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):  # a server that never answers nor closes times out here
            answer += chunk
    return answer


def head(up, *, host: str | None = None, token: str | None = None, extra: str = "", length: str = "8") -> bytes:
    state = client.read_state(up.data)
    host = host or f"127.0.0.1:{state['admin_port']}"
    token = state["admin_token"] if token is None else token
    return (
        f"POST /query HTTP/1.1\r\nHost: {host}\r\n{client.TOKEN_HEADER}: {token}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


@pytest.mark.system
def test_the_admin_port_answers_only_its_own_host_and_origin_with_the_token(up):
    port = client.read_state(up.data)["admin_port"]
    assert status_of(raw(port, head(up) + b"SELECT 1")) == 200
    assert status_of(raw(port, head(up, host=f"localhost:{port}") + b"SELECT 1")) == 200
    assert status_of(raw(port, head(up, extra=f"Origin: http://127.0.0.1:{port}\r\n") + b"SELECT 1")) == 200
    refused = {
        "foreign Host (DNS rebinding)": head(up, host=f"evil.example:{port}"),
        "another port's Host": head(up, host=f"127.0.0.1:{port + 1}"),
        "foreign Origin": head(up, extra="Origin: http://evil.example\r\n"),
        "null Origin": head(up, extra="Origin: null\r\n"),
        "no token": head(up, token=""),
        "a wrong token": head(up, token="guess"),
    }
    for why, request in refused.items():
        assert status_of(raw(port, request + b"SELECT 1")) == 403, why
    csrf = (
        "POST /query HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n"
        "Content-Length: 8\r\n\r\nSELECT 1"
    ).encode()  # what a web page's form or fetch sends
    assert status_of(raw(port, csrf)) == 403
    status_without_token = raw(port, f"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert status_of(status_without_token) == 403
    out = subprocess.run(
        [PINGPIPE, "query", "--data", str(up.data), "--format", "json", "SELECT 42 AS answer"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and orjson.loads(out.stdout) == {"answer": 42}, out.stderr
    assert subprocess.run([PINGPIPE, "status", "--data", str(up.data)], capture_output=True, timeout=60).returncode == 0


@pytest.mark.system
def test_the_state_file_holds_the_token_and_only_its_owner_can_read_it(up):
    path = up.data / client.STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(client.read_state(up.data)["admin_token"]) >= 32


@pytest.mark.system
@pytest.mark.parametrize("length", ["-1", "abc", "1e3", " -5"])
def test_an_invalid_content_length_is_refused_at_once_and_the_connection_closed(up, length):
    answer = raw(client.read_state(up.data)["admin_port"], head(up, length=length))  # no body: it is not read
    assert status_of(answer) == 400 and b"Connection: close" in answer


@pytest.mark.system
def test_a_too_long_query_is_refused_unread_and_the_connection_closed(up):
    answer = raw(client.read_state(up.data)["admin_port"], head(up, length=str(10**12)))  # not one byte of it sent
    assert status_of(answer) == 413 and b"Connection: close" in answer
    with pytest.raises(warehouse.QueryError, match="query too long"):  # the CLI says so before sending it
        client.call(up.data, "POST", "/query", b" " * (client.MAX_SQL_BYTES + 1))


@pytest.mark.system
def test_a_query_that_stops_arriving_is_cut_off_within_the_read_time(up):
    started = time.monotonic()
    answer = raw(client.read_state(up.data)["admin_port"], head(up, length="100") + b"SELECT")  # 94 bytes never come
    assert status_of(answer) == 408 and time.monotonic() - started < admin.READ_SECONDS + 3


WIDE = (
    "SELECT 18446744073709551616::HUGEINT AS h, [1, 18446744073709551616::HUGEINT] AS l, "
    "{'a': (-170141183460469231731687303715884105728)::HUGEINT} AS s, "
    "340282366920938463463374607431768211455::UHUGEINT AS u, 18446744073709551615::UBIGINT AS max64"
)


@pytest.mark.system
def test_results_beyond_64_bits_arrive_as_text_through_up_and_the_cli(up, tmp_path):
    assert client.call(up.data, "POST", "/query", WIDE.encode())["rows"] == [
        [
            "18446744073709551616",
            [1, "18446744073709551616"],
            {"a": "-170141183460469231731687303715884105728"},
            "340282366920938463463374607431768211455",
            18446744073709551615,
        ]
    ]
    out = subprocess.run([PINGPIPE, "query", "--data", str(up.data), "--format", "json", WIDE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and orjson.loads(out.stdout)["u"] == "340282366920938463463374607431768211455", out.stderr
    table = subprocess.run([PINGPIPE, "query", "--data", str(up.data), WIDE], capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and "18446744073709551616" in table.stdout and "(1 row)" in table.stdout
    make_warehouse(tmp_path / "data" / "warehouse.duckdb")  # and on the direct read-only path
    direct = subprocess.run(
        [PINGPIPE, "query", "--data", str(tmp_path / "data"), "--format", "json", WIDE], capture_output=True, text=True, timeout=60
    )
    assert direct.returncode == 0 and orjson.loads(direct.stdout)["h"] == "18446744073709551616", direct.stderr


def faulty_admin(data: Path, answer: bytes | None) -> socket.socket:
    """A fake admin port (the faults a real `up` should never make): it reads the request, then sends
    `answer`, or nothing, and closes. DATA/up.json names it, with this (live) process as its pid."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if answer is not None:
                    conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    data.mkdir(parents=True, exist_ok=True)
    (data / client.STATE_FILE).write_bytes(orjson.dumps({"pid": os.getpid(), "admin_port": server.getsockname()[1], "admin_token": "t"}))
    return server


@pytest.mark.system
@pytest.mark.parametrize(
    "answer",
    [
        None,
        b"HTTP/1.0 500 Oops\r\n\r\n<html>not json</html>",
        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{not json",
        b"HTTP/1.0 403 Forbidden\r\n\r\n",
    ],
)
def test_the_cli_prints_one_line_and_fails_when_up_does_not_answer_properly(tmp_path, answer):
    server = faulty_admin(tmp_path / "data", answer)
    try:
        for args in (["query", "SELECT 1"], ["status"]):
            out = subprocess.run([PINGPIPE, *args, "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
            assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
            assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("Error: "), out.stderr
    finally:
        server.close()


@pytest.mark.system
def test_a_query_error_is_one_line_and_a_missing_table_points_to_status(tmp_path):
    DuckDBWriter(tmp_path / "warehouse.duckdb").close()
    for sql, says in (("SELECT * FROM nope", "`pingpipe status` lists the tables"), ("SELEC 1", "Parser Error")):
        out = subprocess.run([PINGPIPE, "query", "--data", str(tmp_path), sql], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and says in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert subprocess.run([PINGPIPE, "query", "-h"], capture_output=True, text=True, timeout=60).stdout.startswith("Usage:")


def query_cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PINGPIPE, "query", "--data", str(data), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.system
def test_show_tables_lists_every_dataset_table_through_up_and_on_a_direct_open(up, tmp_path):
    assert send(up.port, str(uuid.uuid4())) == 200
    up.wait_committed(1)
    through_up = query_cli(up.data, "--format", "json", "show tables;")
    assert through_up.returncode == 0, through_up.stderr
    listed = [orjson.loads(line) for line in through_up.stdout.splitlines()]
    assert {"table": "pingpipe_demo_live.hello_v1", "type": "table"} in listed
    assert not [t for t in listed if t["table"].startswith("_pingpipe.")]  # pingpipe's bookkeeping is not a dataset
    make_warehouse(tmp_path / "data" / "warehouse.duckdb")
    direct = query_cli(tmp_path / "data", "SHOW TABLES")
    assert direct.returncode == 0 and direct.stdout.splitlines()[-1] == "(0 rows)", direct.stdout
    all_tables = query_cli(tmp_path / "data", "--format", "csv", "SHOW ALL TABLES")  # DuckDB's own, as it is
    assert all_tables.stdout.startswith("database,schema,name,column_names,column_types,temporary\n")
    assert ",_pingpipe,seen_document_ids," in all_tables.stdout


@pytest.mark.system
def test_csv_has_a_header_even_without_rows_and_json_of_no_rows_says_so_on_stderr(up, tmp_path):
    sql = (
        "SELECT 'a,b' AS text, NULL AS nothing, [1, 2] AS list, {'k': 'v'} AS struct, true AS yes, "
        "DATE '2026-11-23' AS day, 2.50::DECIMAL(4, 2) AS price"
    )
    rows = query_cli(up.data, "--format", "csv", sql)
    assert rows.returncode == 0 and rows.stdout == (
        'text,nothing,list,struct,yes,day,price\n"a,b",,"[1,2]","{""k"":""v""}",true,2026-11-23,2.50\n'
    ), rows.stdout
    make_warehouse(tmp_path / "data" / "warehouse.duckdb")
    assert query_cli(tmp_path / "data", "--format", "csv", sql).stdout == rows.stdout  # the same on a direct open
    for data in (up.data, tmp_path / "data"):
        empty = query_cli(data, "--format", "csv", f"{sql} WHERE false")
        assert empty.returncode == 0 and empty.stdout == "text,nothing,list,struct,yes,day,price\n", empty.stdout
        none = query_cli(data, "--format", "json", f"{sql} WHERE false")
        assert none.returncode == 0 and none.stdout == "" and "(0 rows; columns: text, nothing," in none.stderr


@pytest.mark.system
def test_status_shows_the_last_cycle_when_up_is_not_running_too(tmp_path):
    import datetime as dt

    from pingpipe.schemas.registry import Registry
    from pingpipe.up import cycle

    DuckDBWriter(tmp_path / "warehouse.duckdb").close()
    before = subprocess.run([PINGPIPE, "status", "--data", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert before.stdout.splitlines()[-1].startswith("last cycle: none yet"), before.stdout + before.stderr
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    cycle.run_cycle(writer, Registry.load(None), dt.date(2026, 11, 22))
    writer.close()
    out = subprocess.run([PINGPIPE, "status", "--data", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "last cycle: 2026-11-22: stable 0 row(s), shredded 0, expired 0, derived tables " in out.stdout, out.stdout
    as_json = orjson.loads(
        subprocess.run([PINGPIPE, "status", "--data", str(tmp_path), "--format", "json"], capture_output=True, text=True, timeout=60).stdout
    )
    assert as_json["last_cycle"]["day"] == "2026-11-22" and as_json["last_cycle"]["finished_at"]
