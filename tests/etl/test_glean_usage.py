"""The generated Glean queries over 30 days of baseline pings from known clients, loaded as `up` loads
them (the real decoder and loader, submission_timestamp set in the raw messages) and taken through
the daily cycle day by day; compared with plain Python over the same pings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import uuid

import pytest

from pingpipe.decoder.core import DecoderConfig
from pingpipe.etl import catalog
from pingpipe.etl.run import run
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import encode_line
from pingpipe.schemas.registry import Registry
from pingpipe.up import cycle, work
from pingpipe.up.commit import Committer
from tests.fixtures.demo import demo_ping

APP = "pingpipe_demo"
LAST = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
DAYS = [LAST - dt.timedelta(days=n) for n in range(29, -1, -1)]  # 30 days, the last one yesterday
COUNTRY_OF = {"81.2.69.160": "GB", "216.160.83.56": "US", "89.160.20.112": "SE"}  # the test GeoIP database (tests/fixtures/geoip.py)


def baseline(client: str, channel: str, reason: str, duration: int) -> bytes:
    metrics = {"timespan": {"glean.baseline.duration": {"time_unit": "second", "value": duration}}}
    ping = demo_ping(metrics, client_id=client, channel=channel)
    ping["ping_info"]["reason"] = reason
    ping["client_info"]["first_run_date"] = "2026-11-01+00:00"  # before the first of the 30 days
    return json.dumps(ping).encode()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, geoip_db):
    """12 clients: 10 with random activity (one changes channel on day 20), one seen in the first 5 days
    only, one on the first and last day only; a resent ping; one cycle per day."""
    rng = random.Random(20261129)
    clients = {str(uuid.UUID(int=rng.getrandbits(128))): (rng.choice(["release", "beta"]), rng.choice(list(COUNTRY_OF))) for _ in range(12)}
    switcher, *_, early, rare = clients
    active_on = {early: lambda i: i < 5, rare: lambda i: i in (0, 29)}
    seen: dict[str, dict[dt.date, list]] = {c: {} for c in clients}  # client -> day -> [(reason, duration, channel)]
    lines = []
    for i, day in enumerate(DAYS):
        for client, (channel, ip) in clients.items():
            if not active_on.get(client, lambda i: rng.random() >= 0.35)(i):
                continue
            if client == switcher and i >= 20:
                channel = "nightly"
            for n in range(rng.choice([1, 2])):
                reason, duration = ("active", "inactive")[n], rng.randrange(1, 5000)
                seen[client].setdefault(day, []).append((reason, duration, channel))
                doc = str(uuid.uuid4())
                line = encode_line(
                    baseline(client, channel, reason, duration),
                    {
                        "uri": f"/submit/pingpipe-demo/baseline/1/{doc}",
                        "submission_timestamp": f"{day}T{10 + n:02d}:00:00.000000Z",
                        "remote_addr": ip,
                    },
                )
                lines.append(line)
                if i == 5 and n == 0:
                    lines.append(line)  # sent twice: the stable table keeps one
    tmp = tmp_path_factory.mktemp("etl")
    work.init_worker(DecoderConfig(geoip_db=geoip_db))
    writer = DuckDBWriter(tmp / "warehouse.duckdb")
    segment = tmp / "s1.ndjson"
    segment.write_bytes(b"".join(lines))
    Committer(writer).commit(work.process_segments([str(segment)]), [segment])
    registry = Registry.load(None)
    reports = [cycle.run_cycle(writer, registry, day) for day in DAYS]
    yield writer, registry, clients, seen, reports
    writer.close()


def rows(writer, sql: str) -> list[tuple]:
    return sorted(writer.query(sql).fetchall(), key=repr)


def test_every_day_ran_the_generated_queries(warehouse):
    _, _, _, _, reports = warehouse
    for report in reports:
        assert report["etl"]["failed"] == {} and report["etl"]["waiting"] == {}
        assert set(report["etl"]["ran"]) == {
            f"{APP}_derived.baseline_clients_daily_v1",
            f"{APP}_derived.active_users_v1",
            f"{APP}_derived.baseline_clients_last_seen_v1",
            f"{APP}.active_users",
        }


def test_clients_daily_has_one_row_per_client_and_day_with_sessions_and_durations(warehouse):
    writer, _, clients, seen, _ = warehouse
    expected = sorted(
        (
            (
                day,
                client,
                len(pings),
                sum(r == "active" for r, _, _ in pings),
                sum(d for _, d, _ in pings),
                pings[-1][2],
                COUNTRY_OF[clients[client][1]],
            )
            for client, days in seen.items()
            for day, pings in days.items()
        ),
        key=repr,
    )
    got = rows(
        writer,
        f"SELECT submission_date, client_id, baseline_pings, sessions, durations, normalized_channel, country "
        f"FROM {APP}_derived.baseline_clients_daily_v1",
    )
    assert got == expected


def bits(days_seen: set[dt.date], day: dt.date) -> int:
    return sum(1 << n for n in range(28) if day - dt.timedelta(days=n) in days_seen)


def latest_channel(seen: dict[dt.date, list], day: dt.date) -> str:
    return seen[max(d for d in seen if d <= day)][-1][2]


def test_days_seen_bits_and_active_users_equal_a_computation_in_python(warehouse):
    writer, _, clients, seen, _ = warehouse
    last_seen, active = [], {}
    for day in DAYS:
        for client, days in seen.items():
            b = bits(set(days), day)
            if not b:
                continue
            channel, country = latest_channel(days, day), COUNTRY_OF[clients[client][1]]
            last_seen.append((day, client, b, channel, country))
            counts = active.setdefault((day, channel, country), [0, 0, 0])
            counts[0] += bool(b & 1)
            counts[1] += bool(b & 0x7F)
            counts[2] += 1
    assert rows(
        writer,
        f"SELECT submission_date, client_id, days_seen_bits, normalized_channel, country FROM {APP}_derived.baseline_clients_last_seen_v1",
    ) == sorted(last_seen, key=repr)
    expected = sorted(((d, ch, co, *n) for (d, ch, co), n in active.items()), key=repr)
    assert rows(writer, f"SELECT submission_date, channel, country, dau, wau, mau FROM {APP}.active_users") == expected
    assert any(n[1] > n[0] for n in active.values()) and any(n[2] > n[1] for n in active.values())  # the windows differ


def test_a_rerun_of_a_day_changes_nothing(warehouse):
    writer, registry, _, _, _ = warehouse
    tables = [f"{APP}_derived.baseline_clients_daily_v1", f"{APP}_derived.baseline_clients_last_seen_v1", f"{APP}_derived.active_users_v1"]
    before = {t: rows(writer, f"SELECT * FROM {t}") for t in tables}
    report = cycle.run_etl(writer, registry, DAYS[15])
    assert report.failed == {} and len(report.ran) == 4
    assert {t: rows(writer, f"SELECT * FROM {t}") for t in tables} == before


def test_the_generated_checks_ran_every_day_and_passed_but_for_warnings(warehouse):
    *_, reports = warehouse
    for report in reports:
        checks = report["etl"]["checks"]
        assert set(checks) == {
            f"{APP}_derived.{t}" for t in ("baseline_clients_daily_v1", "baseline_clients_last_seen_v1", "active_users_v1")
        }
        assert all(o["passed"] for outcomes in checks.values() for o in outcomes if o["marker"] == "fail")


def test_a_duplicated_client_fails_the_daily_tables_check_and_the_tables_reading_it_wait_that_day(warehouse):
    writer, registry, *_ = warehouse
    queries = catalog.queries(registry)
    daily = next(q for q in queries if q.name == f"{APP}_derived.baseline_clients_daily_v1")
    # the daily table's query with one client twice: what a bug in it would write
    broken = dataclasses.replace(
        daily, sql=f"WITH d AS ({daily.sql}) SELECT * FROM d UNION ALL (SELECT * FROM d ORDER BY client_id LIMIT 1)"
    )
    day = DAYS[10]
    report = run(writer, [broken if q is daily else q for q in queries], day)
    assert daily.name in report.ran and "check 1 (#fail) failed: 1 value(s) of (client_id) are not unique" in report.failed[daily.name]
    assert set(report.waiting) == {f"{APP}_derived.baseline_clients_last_seen_v1", f"{APP}_derived.active_users_v1", f"{APP}.active_users"}
    again = run(writer, queries, day)  # the query mended: the day runs through
    assert again.failed == {} and again.waiting == {}
