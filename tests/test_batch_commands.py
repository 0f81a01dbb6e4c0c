"""`pingpipe decode` then `pingpipe load`, as an operator runs them on files: a summary of what each
did, and a load run again adds nothing."""

from __future__ import annotations

import json
import subprocess
import uuid

import duckdb
import pytest

from pingpipe.message import encode_line
from tests.fixtures.demo import demo_ping
from tests.helpers import PINGPIPE

from .fixtures import RAW

pytestmark = pytest.mark.system

PING = demo_ping({"counter": {"demo.launches": 3}})


def test_decode_says_what_it_did_and_load_twice_loads_once(tmp_path):
    raw = tmp_path / "raw.ndjson"
    ids = [str(uuid.uuid4()) for _ in range(3)]
    lines = [
        encode_line(
            json.dumps(PING).encode(), {"uri": f"/submit/pingpipe-demo/hello/1/{i}", "submission_timestamp": "2026-11-23T10:00:00.000000Z"}
        )
        for i in ids
    ]
    lines.append(lines[0])  # a retry: a duplicate
    raw.write_bytes(b"".join(lines) + (RAW / "error-input.ndjson").read_bytes())
    done = subprocess.run(
        [PINGPIPE, "decode", "--input", f"file:{raw}", "--output", f"file:{tmp_path}/dec/part", "--errors", f"file:{tmp_path}/err/part"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "read 6: decoded 3, duplicates 1, errors by type: ParsePayload 1, ParseUri 1" in done.stdout

    load = [
        PINGPIPE,
        "load",
        "--input",
        f"file:{tmp_path}/dec/part*",
        "--input",
        f"file:{tmp_path}/err/part*",
        "--data",
        str(tmp_path / "data"),
    ]
    first = subprocess.run(load, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "loaded 3 row(s), 2 error row(s), 1 duplicate(s)" in first.stdout
    again = subprocess.run(load, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "loaded 0 row(s), 0 error row(s), 0 duplicate(s); 6 already in their tables, skipped" in again.stdout
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM pingpipe_demo_live.hello_v1").fetchone() == (3,)
    assert con.execute("SELECT count(*) FROM payload_bytes_error.structured").fetchone() == (3,)


def test_load_of_lines_that_are_not_raw_messages_makes_them_counted_error_rows_as_decode_does(tmp_path):
    """A CSV given to `load` (issue 30): each line an error row, ParseRawMessage, as `decode` and `up` make
    them; the raw-message lines beside them load; one summary, no traceback."""
    data_csv = tmp_path / "data.csv"
    good = encode_line(
        json.dumps(PING).encode(),
        {"uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}", "submission_timestamp": "2026-11-23T10:00:00.000000Z"},
    )
    data_csv.write_bytes(b"client,launches\nabc,3\n\n" + good + b'{"payload": 7}\n')
    decoded = subprocess.run(
        [
            PINGPIPE,
            "decode",
            "--input",
            f"file:{data_csv}",
            "--output",
            f"file:{tmp_path}/dec/part",
            "--errors",
            f"file:{tmp_path}/err/part",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "errors by type: ParseRawMessage 3" in decoded.stdout, decoded.stdout + decoded.stderr  # what load agrees with
    done = subprocess.run(
        [PINGPIPE, "load", "--input", f"file:{data_csv}", "--data", str(tmp_path / "data")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    assert "loaded 0 row(s), 4 error row(s)" in done.stdout  # the raw line is undecoded: `load` takes the decoder's output
    assert "3 line(s) are not raw messages" in done.stderr and "ParseRawMessage" in done.stderr
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT error_type, decode(payload) FROM payload_bytes_error.structured WHERE error_type = 'ParseRawMessage' ORDER BY 2"
    ).fetchall()
    assert rows == [("ParseRawMessage", "abc,3"), ("ParseRawMessage", "client,launches"), ("ParseRawMessage", '{"payload": 7}')]
