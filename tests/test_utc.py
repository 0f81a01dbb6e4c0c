"""Days are UTC days on a machine in any time zone: pings at 00:10 and 23:50 UTC land on their UTC
day in the stable tables, the derived tables and the dictionary's rows per day, and a rerun of a
day's etl changes nothing; with `TZ` set west of UTC and east of it. A real `up`, the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import orjson
import pytest

from pingpipe import utc
from pingpipe.message import encode_line
from tests.helpers import PINGPIPE
from tests.up.conftest import segment, start_up
from tests.up.test_hardening import CLIENT_INFO

pytestmark = pytest.mark.system

FIRST = utc.today() - dt.timedelta(days=5)
DAY = [FIRST + dt.timedelta(days=i) for i in range(3)]
# client -> the UTC moments of its baseline pings: at the edges of days, where a local day differs
SENT = {"c1": [(DAY[0], "00:10"), (DAY[1], "23:50")], "c2": [(DAY[1], "00:10"), (DAY[2], "23:50")]}
CLIENT = {"c1": "3b1f2a3e-1111-4222-8333-000000000001", "c2": "3b1f2a3e-1111-4222-8333-000000000002"}


def baseline(client: str, day: dt.date, at: str) -> bytes:
    ts = f"{day.isoformat()}T{at}:00.000000Z"
    body = orjson.dumps(
        {
            "ping_info": {"seq": 0, "start_time": f"{day}T00:00+00:00", "end_time": f"{day}T00:01+00:00", "reason": "active"},
            "client_info": {**CLIENT_INFO, "client_id": CLIENT[client]},
            "metrics": {"timespan": {"glean.baseline.duration": {"time_unit": "second", "value": 60}}},
        }
    )
    return encode_line(
        body,
        {
            "uri": f"/submit/pingpipe-demo/baseline/1/{CLIENT[client][-4:]}{day:%m%d}-{at[:2]}00-4000-8000-000000000000",
            "submission_timestamp": ts,
        },
    )


def expected() -> dict[str, list[str]]:
    """UTC day -> the clients active that day."""
    out: dict[str, list[str]] = {}
    for client, sent in SENT.items():
        for day, _ in sent:
            out.setdefault(day.isoformat(), []).append(CLIENT[client])
    return {d: sorted(c) for d, c in sorted(out.items())}


FIGURES = """
import json, sys
from pingpipe import utc
from pingpipe.dictionary.figures import table_figures
from pingpipe.loader.writers.duckdb import connect, cursor, disconnect
con = connect(sys.argv[1], read_only=True)
f = table_figures(cursor(con), "pingpipe_demo_stable.baseline_v1", today=utc.today())
print(json.dumps({d: n for d, n in f.per_day if n}))
disconnect(con, sys.argv[1])
"""


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Tokyo"])
def test_days_are_utc_days_wherever_the_machine_is(tmp_path, monkeypatch, zone):
    monkeypatch.setenv("TZ", zone)  # `up`, the commands and DuckDB in them: all in this zone
    data = tmp_path / "data"
    (data / "queue").mkdir(parents=True)
    segment(data / "queue", "00000000000000000001-demo-000001", *(baseline(c, day, at) for c, sent in SENT.items() for day, at in sent))
    up = start_up(data)
    try:
        up.wait_committed(4)
        for day in DAY:
            done = subprocess.run(
                [PINGPIPE, "cycle", "--data", str(data), "--date", day.isoformat()], capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stdout + done.stderr

        def daily() -> dict[str, list[str]]:
            rows = up.query(
                "SELECT CAST(submission_date AS VARCHAR) AS d, list(client_id ORDER BY client_id) AS c "
                "FROM pingpipe_demo_derived.baseline_clients_daily_v1 GROUP BY 1 ORDER BY 1"
            )
            return {r["d"]: r["c"] for r in rows}

        assert daily() == expected()
        rerun = subprocess.run(
            [PINGPIPE, "etl", "run", "--data", str(data), "--date", DAY[1].isoformat()], capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert daily() == expected()  # a day's rerun changes nothing
        stable = up.query(
            "SELECT CAST(CAST(submission_timestamp AS DATE) AS VARCHAR) AS d, count(*) AS n "
            "FROM pingpipe_demo_stable.baseline_v1 GROUP BY 1 ORDER BY 1"
        )
        assert {r["d"]: r["n"] for r in stable} == {d: len(c) for d, c in expected().items()}
    finally:
        assert up.stop() == 0
    figures = subprocess.run([sys.executable, "-c", FIGURES, str(data / "warehouse.duckdb")], capture_output=True, text=True, timeout=60)
    assert figures.returncode == 0, figures.stderr
    assert json.loads(figures.stdout) == {d: len(c) for d, c in expected().items()}


def test_dedupe_etl_and_cycle_all_take_yesterday_when_no_day_is_given(tmp_path):
    from pingpipe.loader.tables import TableId
    from pingpipe.loader.writers.duckdb import DuckDBWriter

    yesterday = utc.yesterday()
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    writer.write(
        {
            TableId("app_live", "pings_v1"): (
                [
                    {"name": "document_id", "type": "STRING", "mode": "NULLABLE"},
                    {"name": "submission_timestamp", "type": "TIMESTAMP", "mode": "NULLABLE"},
                ],
                [{"document_id": "d", "submission_timestamp": f"{yesterday}T23:59:00Z"}],
            )
        }
    )
    writer.close()
    done = subprocess.run([PINGPIPE, "dedupe", "--data", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"app_stable.pings_v1 {yesterday}: 1 row(s)" in done.stdout, done.stdout + done.stderr
    for command in (["dedupe"], ["etl", "run"], ["cycle"]):
        shown = subprocess.run([PINGPIPE, *command, "--help"], capture_output=True, text=True, timeout=60).stdout
        assert "yesterday" in " ".join(shown.split()), command


def test_the_days_due_are_yesterday_and_those_a_stop_left_the_latest_few():
    today = dt.date(2026, 12, 7)

    def ran(day: dt.date, at: str) -> tuple[dt.date, dt.datetime]:
        return day, dt.datetime.fromisoformat(at)

    assert utc.days_due(None, today, 7) == [dt.date(2026, 12, 6)]  # never ran: yesterday alone
    assert utc.days_due(ran(dt.date(2026, 12, 6), "2026-12-07T01:30:00+00:00"), today, 7) == []
    stopped = ran(dt.date(2026, 12, 3), "2026-12-04T01:30:00+00:00")  # then three days without a cycle
    assert utc.days_due(stopped, today, 7) == [dt.date(2026, 12, 4), dt.date(2026, 12, 5), dt.date(2026, 12, 6)]
    assert utc.days_due(stopped, today, 2) == [dt.date(2026, 12, 5), dt.date(2026, 12, 6)]
    by_hand = ran(dt.date(2026, 10, 1), "2026-12-07T09:00:00+09:00")  # an old day cycled by hand today
    assert utc.days_due(by_hand, today, 7) == [dt.date(2026, 12, 6)]  # the days between ended before it: left alone
    assert utc.days_due(ran(dt.date(2026, 12, 8), "2026-12-07T00:00:00+00:00"), today, 7) == []  # nothing runs twice
    assert utc.days_due((dt.date(2026, 12, 3), None), today, 7) == [dt.date(2026, 12, 4), dt.date(2026, 12, 5), dt.date(2026, 12, 6)]
