"""`pingpipe load`: the Beam sink over decoder output files, into DuckDB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pingpipe.message import RawMessage

from ..fixtures import decoded_messages

pytestmark = pytest.mark.system


def test_load_cli_writes_every_message_to_a_table_or_the_error_table(tmp_path, schemas, geoip_db):
    messages = decoded_messages(schemas, geoip_db)
    decoded = [RawMessage(d, a).to_line() for d, a in messages if "error_type" not in a]
    errors = [RawMessage(d, a).to_line() for d, a in messages if "error_type" in a]
    (tmp_path / "decoded-00000.ndjson").write_bytes(b"".join(decoded))
    (tmp_path / "errors-00000.ndjson").write_bytes(b"".join(errors))
    pingpipe = str(Path(sys.executable).with_name("pingpipe"))
    db = tmp_path / "warehouse.duckdb"
    r = subprocess.run(
        [
            pingpipe,
            "load",
            "--input",
            f"file:{tmp_path}/decoded-*",
            "--input",
            f"file:{tmp_path}/errors-*",
            "--warehouse",
            f"duckdb:{db}",
            "--schemas",
            str(schemas),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "eng_workflow_live.hgpush_v1: 3 row(s)" in r.stdout
    con = duckdb.connect(str(db), read_only=True)
    tables = con.execute("SELECT dataset, name FROM _pingpipe.tables").fetchall()
    total = sum(con.execute(f'SELECT count(*) FROM "{d}"."{n}"').fetchone()[0] for d, n in tables)
    assert total == len(messages)
    (tmp_path / "x").write_bytes(b"")
    bad = subprocess.run(
        [pingpipe, "load", "--input", f"file:{tmp_path}/x", "--warehouse", "sqlite:x"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "duckdb:PATH" in bad.stderr
