"""`pingpipe demo`: a history built from the demo app's definitions, every ping valid against its schema
(but the few meant not to be), queued as the edge queues, loaded by a real `up` through the decoder,
and the daily cycle's derived tables filled for every day."""

from __future__ import annotations

import collections
import datetime as dt
import subprocess

import orjson
import pytest
from isal import igzip

from pingpipe.decoder.core import Decoder, Failure
from pingpipe.decoder.steps.geo import GeoLookup
from pingpipe.message import RawMessage
from pingpipe.schemas import glean_builtin
from pingpipe.schemas.definitions import load
from pingpipe.schemas.glean import pings_of
from pingpipe.schemas.registry import Registry, default_root
from pingpipe.up.demo import DemoConfig, functional_buckets, history, summary
from pingpipe.up.demo_queue import DemoRefused, Edge, queue_history
from tests.fixtures import GLEAN
from tests.helpers import PINGPIPE

END = dt.date(2026, 11, 29)


@pytest.fixture(scope="module")
def app():
    return load(default_root()).apps["pingpipe-demo"]


@pytest.fixture(scope="module")
def decoder():
    return Decoder(Registry.load(None), GeoLookup(None))


@pytest.fixture(scope="module")
def default_history(app):
    """The default size, as `pingpipe demo` sends it."""
    return history(app, DemoConfig(end=END, sdk_version="64.0.0"), END)


def payload(sub) -> dict:
    return orjson.loads(igzip.decompress(sub.body) if sub.body[:2] == b"\x1f\x8b" else sub.body)


def decoded(decoder, edge, subs):
    """Each submission through the edge's rules (its raw message) and the decoder."""
    return [(sub, decoder.decode(RawMessage.from_line(edge.message(sub)))) for sub in subs]


def test_every_ping_validates_against_the_demo_schemas_and_each_invalid_one_is_refused_for_its_reason(default_history, decoder, tmp_path):
    errors = collections.Counter()
    for sub, result in decoded(decoder, Edge(tmp_path), default_history):
        if sub.kind.startswith("invalid:"):
            assert isinstance(result, Failure), sub.kind
            errors[(sub.kind, result.error_type)] += 1
        else:
            assert not isinstance(result, Failure), (sub.kind, result.message.attributes.get("error_message"))
            assert result.table == f"pingpipe_demo_live.{sub.doctype.replace('-', '_')}_v1"
    assert {kind for kind, _ in errors} == {
        "invalid:truncated-gzip",
        "invalid:not-json",
        "invalid:unknown-doctype",
        "invalid:no-ping-info",
        "invalid:wrong-type",
    }
    assert errors[("invalid:truncated-gzip", "DecompressPayload")] >= 1
    assert sum(n for (kind, error), n in errors.items() if error == "ParsePayload") == 4


def test_the_default_history_is_a_few_hundred_clients_over_28_days_of_every_glean_ping(default_history):
    kinds = summary(default_history)
    assert 10_000 < len(default_history) < 25_000, kinds  # what `up` loads in seconds
    for ping in ("baseline", "metrics", "events", "hello", "health", "deletion-request"):
        assert kinds.get(ping), kinds
    assert kinds["duplicate"] == 3 and kinds["deletion-request"] == 1
    days = [END - dt.timedelta(days=28 - i) for i in range(28)]
    clients_by_day = collections.defaultdict(set)
    for sub in default_history:
        assert days[0] <= sub.submitted.date() < END, sub.submitted  # the 28 days before END, none later
        if sub.doctype == "baseline" and sub.kind == "ping":
            clients_by_day[sub.submitted.date()].add(payload(sub)["client_info"]["client_id"])
    assert sorted(clients_by_day) == days  # every day has baseline pings...
    assert all(40 <= len(c) <= 250 for c in clients_by_day.values()), {d: len(c) for d, c in clients_by_day.items()}
    assert 250 <= len(set().union(*clients_by_day.values())) <= 300  # ...of most of the 300 clients


def test_clients_have_channels_versions_and_platforms_and_new_versions_roll_out(default_history):
    baselines = [
        payload(s)["client_info"] | {"day": s.submitted.date()} for s in default_history if s.doctype == "baseline" and s.kind == "ping"
    ]
    assert {i["app_channel"] for i in baselines} == {"release", "beta", "nightly"}
    assert {i["os"] for i in baselines} == {"Windows", "Darwin", "Linux"}
    versions_first_week = {i["app_display_version"] for i in baselines if i["day"] < END - dt.timedelta(days=21)}
    versions_last_day = collections.Counter(i["app_display_version"] for i in baselines if i["day"] == END - dt.timedelta(days=1))
    assert versions_first_week <= {"1.0", "1.0a1"}
    assert versions_last_day.most_common(1)[0][0] == "1.2"  # most clients have the newest version by the end


def test_every_metric_of_the_app_is_sent_in_the_pings_its_definition_names(app, default_history):
    seen = collections.defaultdict(set)  # (type, metric) -> doctypes it was in
    for sub in default_history:
        if sub.kind.startswith("invalid:"):
            continue
        body = payload(sub)
        for kind, values in body.get("metrics", {}).items():
            for name in values:
                seen[(kind, name)].add(sub.doctype)
        for event in body.get("events", ()):
            seen[("event", f"{event['category']}.{event['name']}")].add(sub.doctype)
    mine = [m for m in app.metrics if not m.builtin]
    assert mine
    for metric in mine:
        assert seen[(metric.type, metric.identifier)] == pings_of(metric, list(app.pings)), metric.identifier
    assert seen[("timespan", "glean.baseline.duration")] == {"baseline"}  # and Glean's own, where the SDK puts them
    assert "metrics" in seen[("labeled_counter", "glean.validation.pings_submitted")]


def test_pings_carry_glean_times_and_arrive_after_they_end_with_the_sdks_headers(default_history):
    for sub in default_history[::50]:
        if sub.kind.startswith("invalid:"):
            continue
        info = payload(sub)["ping_info"]
        start, end = dt.datetime.fromisoformat(info["start_time"]), dt.datetime.fromisoformat(info["end_time"])
        assert start <= end <= sub.submitted <= end + dt.timedelta(minutes=20)
        headers = dict(sub.headers)
        assert headers["Content-Encoding"] == "gzip" and headers["X-Telemetry-Agent"].startswith("Glean/64.0.0 (")
        assert dt.datetime.strptime(headers["Date"], "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.timezone.utc) == sub.submitted.replace(
            microsecond=0
        )


def test_each_pings_sequence_counts_up_per_client_and_type(default_history):
    seqs = collections.defaultdict(list)
    for sub in default_history:
        if sub.kind == "ping":
            body = payload(sub)
            seqs[(body["client_info"]["client_id"], sub.doctype)].append(body["ping_info"]["seq"])
    for key, found in seqs.items():
        assert found == list(range(found[0], found[0] + len(found))), key


@pytest.mark.parametrize("seed", [None, 2, 3, 4, 5])
def test_the_client_that_deletes_sends_nothing_after_its_deletion_request(default_history, app, seed):
    if seed is not None:
        default_history = history(app, DemoConfig(days=6, clients=12, seed=seed, end=END), END)
    (request,) = [s for s in default_history if s.kind == "deletion-request"]
    client = payload(request)["client_info"]["client_id"]
    assert request.client_id == client
    after = [s for s in default_history if s.submitted > request.submitted and s.client_id == client]
    before = [
        s
        for s in default_history
        if s.submitted < request.submitted
        and s.doctype == "baseline"
        and s.kind == "ping"
        and payload(s)["client_info"]["client_id"] == client
    ]
    assert before and not after


def test_the_same_seed_gives_the_same_history_and_another_seed_another(app):
    small = DemoConfig(days=5, clients=20, end=END)
    one, two = history(app, small, END), history(app, small, END)
    assert [(s.uri, s.body, s.submitted) for s in one] == [(s.uri, s.body, s.submitted) for s in two]
    other = history(app, DemoConfig(days=5, clients=20, end=END, seed=2), END)
    assert {s.document_id for s in one}.isdisjoint(s.document_id for s in other)


def test_distributions_are_bucketed_as_the_glean_sdk_buckets_them():
    sent = orjson.loads((GLEAN / "demo.json").read_bytes())["metrics"]["timing_distribution"]["demo.td_a"]
    # the real SDK's ping: 45 ms in all, as 5 ms and two 20 ms samples
    assert functional_buckets([5_000_000, 20_000_000, 20_000_000], 8) == sent["values"]


def test_a_config_that_cannot_make_a_history_is_refused(app):
    for config, says in (
        (DemoConfig(days=0), "days"),
        (DemoConfig(clients=0), "clients"),
        (DemoConfig(clients=2, deletions=3), "deletions"),
    ):
        with pytest.raises(ValueError, match=says):
            history(app, config, END)


def test_a_submission_the_edge_would_refuse_stops_the_demo(default_history, tmp_path):
    sub = default_history[0]
    bad = type(sub)(
        uri="/submit/pingpipe-demo/baseline", body=sub.body, headers=sub.headers, submitted=sub.submitted, remote_addr=sub.remote_addr
    )
    with pytest.raises(DemoRefused, match="the edge would answer 404"):
        Edge(tmp_path).message(bad)


def test_queued_messages_are_the_edges_format_with_the_historys_submission_times(app, tmp_path):
    subs = history(app, DemoConfig(days=2, clients=5, end=END), END)
    assert queue_history(subs, tmp_path / "queue") == len(subs)
    lines = [RawMessage.from_line(line) for p in sorted((tmp_path / "queue").glob("*.ndjson")) for line in p.read_bytes().splitlines()]
    assert [m.attributes["submission_timestamp"] for m in lines] == [s.submitted.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for s in subs]
    first = lines[0].attributes
    assert first["uri"] == subs[0].uri and first["remote_addr"] == subs[0].remote_addr and first["method"] == "POST"
    assert first["x_telemetry_agent"].startswith("Glean/") and "date" in first
    assert not list((tmp_path / "queue").glob("*.open"))  # every segment sealed: `up` may take them


# -- the command, into a real `up` ---------------------------------------------------------------


def demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PINGPIPE, "demo", *args], capture_output=True, text=True, timeout=120)


def active_users(up) -> dict[str, dict]:
    rows = up.query(
        "SELECT CAST(submission_date AS VARCHAR) AS day, sum(dau) AS dau, sum(wau) AS wau, sum(mau) AS mau "
        "FROM pingpipe_demo.active_users GROUP BY 1 ORDER BY 1"
    )
    return {r["day"]: r for r in rows}


@pytest.mark.system
def test_demo_into_a_running_up_loads_through_the_decoder_and_the_cycles_fill_active_users(run_up, app):
    up = run_up()
    done = demo("--data", str(up.data), "--days", "7", "--clients", "40")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    sdk = glean_builtin.source().version
    today = dt.datetime.now(dt.timezone.utc).date()
    subs = history(app, DemoConfig(days=7, clients=40, sdk_version=sdk), today)  # what the command sent
    status = up.status()
    committed = status["committed"]
    assert committed["messages"] == len(subs)  # nothing lost: rows + error rows + duplicates
    assert committed["duplicates"] == 3 and committed["errors"] == 6
    assert status["errors_by_type"]["DecompressPayload"] >= 1 and status["errors_by_type"]["ParsePayload"] >= 3
    sent_baselines = sum(1 for s in subs if s.doctype == "baseline" and s.kind == "ping")
    (shredded,) = up.query("SELECT client_id FROM _pingpipe.shredded")  # the deletion request, honoured by the cycle
    left = up.query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE client_info.client_id = "
        f"'{shredded['client_id']}') AS gone FROM pingpipe_demo_live.baseline_v1"
    )[0]
    assert left["gone"] == 0 and 0 < sent_baselines - left["n"] < sent_baselines // 5
    days = active_users(up)
    assert list(days) == [str(today - dt.timedelta(days=7 - i)) for i in range(7)], days  # every day of the history
    for row in days.values():
        assert 3 <= row["dau"] <= row["wau"] <= row["mau"] <= 40, row
    assert "pingpipe_demo.active_users" in done.stdout and "up loaded them" in done.stderr


@pytest.mark.system
def test_demo_without_up_queues_for_its_next_start_then_cycles_only_makes_the_derived_tables(run_up, app, tmp_path):
    data = tmp_path / "data"
    done = demo("--data", str(data), "--days", "3", "--clients", "15", "--seed", "7")
    assert done.returncode == 0, done.stderr
    assert "not running" in done.stdout and "--cycles-only" in done.stdout
    assert list((data / "queue").glob("*.ndjson")) and not list((data / "queue").glob("*.open"))
    today = dt.datetime.now(dt.timezone.utc).date()
    sent = history(app, DemoConfig(days=3, clients=15, seed=7, sdk_version=glean_builtin.source().version), today)
    up = run_up(data=data)
    up.wait_committed(len(sent), timeout=30)  # loaded at its start
    again = demo("--data", str(data), "--cycles-only")
    assert again.returncode == 0, again.stderr
    assert len(active_users(up)) == 3


@pytest.mark.system
def test_demo_mistakes_are_one_line(tmp_path):
    for args, code, says in (
        (["--no-cycles", "--cycles-only"], 2, "exclude each other"),
        (["--days", "0"], 2, "0 is not in the range"),
        (["--cycles-only", "--data", str(tmp_path / "none")], 1, "no warehouse at"),
    ):
        done = demo(*args)
        assert done.returncode == code and says in done.stderr and "Traceback" not in done.stderr, done.stderr
