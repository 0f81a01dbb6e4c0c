"""`pingpipe replay` with a real `up`: pings a too-strict schema and a missing one refused, recovered
once the schemas are mended and `up` restarted, each document once; and the same with a SIGKILL
inside the replay's commit."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import shutil
import signal
import subprocess
import urllib.request
import uuid

import orjson
import pytest

from pingpipe.schemas.diff import column_types
from pingpipe.schemas.registry import Registry
from pingpipe.up import client
from tests.fixtures.demo import demo_ping
from tests.helpers import PINGPIPE
from tests.up.conftest import start_up

pytestmark = pytest.mark.system

HELLO, EVENTS = "pingpipe_demo_live.hello_v1", "pingpipe_demo_live.events_v1"


def schemas(root, mended: bool):
    """The shipped demo app's schemas; not mended: hello's channel too strict (release only), and no events ping."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(Registry.load().root, root)
    if not mended:
        path = root / "pingpipe-demo" / "hello" / "hello.1.schema.json"
        schema = json.loads(path.read_text())
        schema["properties"]["client_info"]["properties"]["app_channel"]["enum"] = ["release"]
        path.write_text(json.dumps(schema))
        shutil.rmtree(root / "pingpipe-demo" / "events")
    return root


def send(up, pings: list[tuple[str, str, bytes]]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", up.port, timeout=10)
    for doctype, doc, body in pings:
        connection.request("POST", f"/submit/pingpipe-demo/{doctype}/1/{doc}", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
    connection.close()


def the_day(tmp_path) -> tuple:
    """`up` on the strict schemas: 20 good pings, 10 the enum refuses, 12 of a doctype without a schema
    (3 sent twice: 15 error rows), 5 bodies that are not JSON. Then stopped."""
    root = tmp_path / "schemas"
    up = start_up(tmp_path / "data", schemas=schemas(root, mended=False))
    good = [("hello", str(uuid.uuid4()), orjson.dumps(demo_ping(client_id=str(uuid.uuid4())))) for _ in range(20)]
    strict = [("hello", str(uuid.uuid4()), orjson.dumps(demo_ping(client_id=str(uuid.uuid4()), channel="beta"))) for _ in range(10)]
    events = [("events", str(uuid.uuid4()), orjson.dumps(demo_ping(client_id=str(uuid.uuid4()), seq=n))) for n in range(12)]
    garbage = [("hello", str(uuid.uuid4()), b"{not json %d" % n) for n in range(5)]
    try:
        send(up, good + strict + events + events[:3] + garbage)
        up.wait_committed(20 + 10 + 15 + 5)
    finally:
        assert up.stop() == 0
    return root, {doc for _, doc, _ in good + strict}, {doc for _, doc, _ in events}


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """the_day once for the module: each test replays a copy of its data folder."""
    tmp = tmp_path_factory.mktemp("replay")
    return (tmp / "data", *the_day(tmp))


def copy_of(day, tmp_path):
    shutil.copytree(day[0], tmp_path / "data")
    return tmp_path / "data"


def replay(up, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PINGPIPE, "replay", "--data", str(up.data), *args], capture_output=True, text=True, timeout=120)


def state(up) -> tuple:
    """Per live table its document ids, and the error rows' types and payloads (what a replay may change)."""
    tables = tuple(sorted(r["document_id"] for r in up.query(f"SELECT document_id FROM {t}")) for t in (HELLO, EVENTS))
    errors = sorted(
        (r["error_type"], r["p"]) for r in up.query("SELECT error_type, md5(payload::VARCHAR) AS p FROM payload_bytes_error.structured")
    )
    return tables, errors


def errors_page(up, page: str = "errors/") -> str:
    state = client.read_state(up.data)
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    browser.open(state["ui_link"], timeout=10).read()
    return browser.open(state["ui"] + page, timeout=10).read().decode()


def events_table(up) -> bool:
    return bool(up.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'events_v1'")[0]["n"])


def test_replay_recovers_what_the_mended_schemas_take_each_document_once_and_a_second_replay_changes_nothing(day, tmp_path):
    _, strict, hello_docs, event_docs = day
    mended = schemas(tmp_path / "mended", mended=True)
    up = start_up(copy_of(day, tmp_path), schemas=mended)
    try:
        before = up.query("SELECT error_type, count(*) AS n FROM payload_bytes_error.structured GROUP BY 1")
        assert before == [{"error_type": "ParsePayload", "n": 30}] and not events_table(up)
        preview = subprocess.run(
            [PINGPIPE, "schemas", "diff", str(strict), str(mended), "--errors", "--data", str(up.data)], capture_output=True, text=True
        )
        assert preview.returncode == 0, preview.stderr
        registry = Registry.load(mended)
        columns = len(column_types(registry.table_schema(registry.get("pingpipe-demo", "events", 1))))
        assert preview.stdout.splitlines()[:4] == [
            f"{EVENTS}: new table ({columns} columns)",
            "with NEW, the error rows:",
            "  pingpipe-demo/events: would recover 15 ParsePayload",
            "  pingpipe-demo/hello: would recover 10 ParsePayload",
        ], preview.stdout
        page = errors_page(up)  # the dictionary's error view, with the command that recovers each kind
        today = dt.datetime.now(dt.timezone.utc).date()
        assert f"pingpipe replay --since {today} --namespace pingpipe-demo --doctype events --error-type ParsePayload" in page
        dry = replay(up, "--dry-run", "--format", "json")
        assert dry.returncode == 0, dry.stderr
        report = json.loads(dry.stdout)
        assert report["picked"] == 30 and report["unchanged"] == 5
        assert report["tables"] == {HELLO: {"rows": 10}, EVENTS: {"rows": 12, "duplicates": 3}}
        assert f"{EVENTS}: would recover 12 row(s), 3 duplicate(s)" in preview.stdout  # the preview is the dry run
        assert up.query("SELECT count(*) AS n FROM payload_bytes_error.structured") == [{"n": 30}] and not events_table(up)
        done = replay(up)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "30 error row(s) picked",
            f"{EVENTS}: recovered 12 row(s), 3 duplicate(s)",
            f"{HELLO}: recovered 10 row(s), 0 duplicate(s)",
            "failing as before, left as they are: 5",
        ], done.stdout
        (hello, events), errors = after = state(up)
        assert set(hello) == hello_docs and len(hello) == 30 and set(events) == event_docs and len(events) == 12
        assert sorted(t for t, _ in errors) == ["ParsePayload"] * 5 + ["duplicate"] * 3
        recorded = up.query("SELECT into_table, count(*) AS n FROM _pingpipe.replays GROUP BY 1 ORDER BY 1")
        assert recorded == [{"into_table": EVENTS, "n": 12}, {"into_table": HELLO, "n": 10}]
        (back,) = up.query(f"SELECT document_id FROM _pingpipe.replays WHERE into_table = '{HELLO}' LIMIT 1")
        where = subprocess.run([PINGPIPE, "trace", back["document_id"], "--data", str(up.data)], capture_output=True, text=True, timeout=60)
        assert where.returncode == 0, where.stderr  # through the running `up`'s admin port
        assert [line.split()[0] for line in where.stdout.splitlines()[1:]] == ["row", "replayed"], where.stdout
        page = errors_page(up, f"trace/{back['document_id']}/")  # the debug viewer's trace page says the same
        assert '<tr class="row">' in page and '<tr class="replayed">' in page
        again = replay(up)
        assert again.returncode == 0 and "failing as before, left as they are: 5" in again.stdout and state(up) == after
    finally:
        assert up.stop() == 0


def test_a_replay_killed_in_its_commit_loses_and_doubles_nothing_and_its_rerun_finishes(day, tmp_path, monkeypatch):
    _, _, hello_docs, event_docs = day
    mended = schemas(tmp_path / "mended", mended=True)
    monkeypatch.setenv("PINGPIPE_KILL_AT", "replay")
    up = start_up(copy_of(day, tmp_path), schemas=mended)
    try:
        killed = replay(up)
        assert up.proc.wait(timeout=30) == -9  # `up` died inside the replay
        assert killed.returncode == 1 and "Traceback" not in killed.stderr
    finally:
        if up.proc.poll() is None:
            up.stop(signal.SIGKILL)
    monkeypatch.delenv("PINGPIPE_KILL_AT")
    up = start_up(tmp_path / "data", schemas=mended)
    try:
        assert up.query("SELECT count(*) AS n FROM payload_bytes_error.structured") == [{"n": 30}]  # nothing was committed
        assert replay(up).returncode == 0
        (hello, events), errors = state(up)
        assert set(hello) == hello_docs and len(hello) == 30 and set(events) == event_docs and len(events) == 12
        assert sorted(t for t, _ in errors) == ["ParsePayload"] * 5 + ["duplicate"] * 3
    finally:
        assert up.stop() == 0
