"""The CI kit (pingpipe/up/testkit.py): an app's own test suite, examples/glean-ci, run as its CI would run
it, with pingpipe's pytest plugin, the real glean-sdk sending to a real `pingpipe up`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pingpipe.up.testkit import Ping

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "glean-ci"


@pytest.mark.system
def test_an_apps_own_suite_checks_a_pings_values_and_a_refused_ping_through_the_plugin():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(EXAMPLE / "pytest.ini"),
            "--rootdir",
            str(EXAMPLE),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


def test_a_metric_a_ping_lacks_is_an_assertion_that_says_what_it_has():
    ping = Ping.from_json(
        {
            "tag": "t",
            "doctype": "session",
            "document_id": "d",
            "valid": True,
            "verdict": "valid",
            "payload": {"metrics": {"counter": {"app.launches": 3}}},
        }
    )
    assert ping.metric("counter", "app.launches") == 3
    with pytest.raises(AssertionError, match="has no string metric app.theme; it has: counter.app.launches"):
        ping.metric("string", "app.theme")
