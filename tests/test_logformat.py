"""pingpipe/logformat.py: with --log-format json, logs and a command's failure are mozlog lines on
stdout, which pingpipe's own mozlog reader (logs/records.py) takes as they are."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import urllib.request

import pytest

from pingpipe.logformat import MozlogFormatter
from pingpipe.logs.records import parse
from tests.helpers import PINGPIPE, free_port, run_edge, submit_path


def test_a_record_is_one_mozlog_line_with_its_logger_as_type_and_syslog_severity():
    try:
        raise OSError("disk full")
    except OSError:
        import sys

        record = logging.LogRecord("pingpipe.edge.pubsub", logging.WARNING, __file__, 1, "spooling %d", (3,), sys.exc_info())
    line = MozlogFormatter().format(record)
    assert "\n" not in line
    parsed = parse(line.encode())
    assert parsed["Type"] == "pingpipe.edge.pubsub" and parsed["Logger"] == "pingpipe" and parsed["EnvVersion"] == "2.0"
    assert parsed["Severity"] == 4 and parsed["Pid"] == os.getpid()
    assert parsed["Fields"]["msg"] == "spooling 3" and "OSError: disk full" in parsed["Fields"]["error"]
    assert abs(parsed["Timestamp"] / 1e9 - record.created) < 1e-3


@pytest.mark.system
def test_a_commands_failure_is_an_error_record_on_stdout(tmp_path):
    done = subprocess.run(
        [PINGPIPE, "--log-format", "json", "query", "--data", str(tmp_path / "none"), "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stderr.startswith("Error: no warehouse at")  # for a person, as ever
    (record,) = [parse(line.encode()) for line in done.stdout.splitlines()]
    assert record["Type"] == "pingpipe.query" and record["Severity"] == 3 and record["Fields"]["msg"].startswith("no warehouse at")


@pytest.mark.system
def test_the_edges_warnings_are_records_when_the_environment_asks(tmp_path):
    """Pub/Sub unreachable: the edge spools (200) and says so, as a warning record on stdout."""
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps([["/submit/<suffix:path>", "raw"]]))
    env = {"PINGPIPE_LOG_FORMAT": "json", "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}"}  # nothing listens there
    with run_edge(tmp_path / "spool", "--pubsub-project", "p", "--route-table", str(routes), env=env) as edge:
        request = urllib.request.Request(edge.url + submit_path(), data=b"{}", method="POST")
        assert urllib.request.urlopen(request, timeout=30).status == 200
        time.sleep(0.5)
        edge.kill()
        out = edge.proc.stdout.read()
    records = [parse(line.encode()) for line in out.splitlines() if line.strip()]
    assert any(r["Type"] == "pingpipe.edge.pubsub" and r["Severity"] == 4 and "spooling to disk" in r["Fields"]["msg"] for r in records), (
        out
    )
