"""The Pub/Sub transport against the real emulator: publish, route, and survive broker outages."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid

import httpx
import pytest

from ..helpers import load, run_edge, submit_path

pytestmark = pytest.mark.external


@pytest.fixture
def topic(pubsub_emulator):
    from google.cloud import pubsub_v1

    name = f"raw-{uuid.uuid4().hex[:8]}"
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = publisher.topic_path(pubsub_emulator.project, name)
    sub_path = subscriber.subscription_path(pubsub_emulator.project, name)
    publisher.create_topic(name=topic_path)
    subscriber.create_subscription(name=sub_path, topic=topic_path)
    yield name, sub_path, subscriber


def pull_all(subscriber, sub_path, settle: float = 3.0, deadline: float = 60.0) -> list:
    """Every message in the subscription: pull until nothing new arrives for `settle` seconds."""
    messages = []
    quiet_since = time.monotonic()
    end = time.monotonic() + deadline
    while time.monotonic() < end and time.monotonic() - quiet_since < settle:
        response = subscriber.pull(request={"subscription": sub_path, "max_messages": 1000}, timeout=5)
        if response.received_messages:
            quiet_since = time.monotonic()
            messages += [m.message for m in response.received_messages]
            subscriber.acknowledge(request={"subscription": sub_path, "ack_ids": [m.ack_id for m in response.received_messages]})
        else:
            time.sleep(0.2)
    return messages


def routes_file(tmp_path, topic_name, extra=()):
    path = tmp_path / "routes.json"
    path.write_text(json.dumps([*extra, ["/submit/<suffix:path>", topic_name]]))
    return path


def edge_args(tmp_path, topic_name, extra=()):
    return ("--pubsub-project", "test", "--route-table", str(routes_file(tmp_path, topic_name, extra)), "--segment-max-age", "0.2")


def spool_200(edge) -> list[str]:
    """200 pings answered while Pub/Sub is paused: all spooled to the edge's volume; their ids."""
    result = load(edge.port, 200, threads=4)
    assert len(result.ok) == 200
    time.sleep(0.5)
    return result.ok


def test_published_messages_can_be_pulled_back(tmp_path, topic, pubsub_emulator):
    name, sub, subscriber = topic
    doc = str(uuid.uuid4())
    with run_edge(tmp_path / "spool", *edge_args(tmp_path, name), env=pubsub_emulator.env()) as edge:
        r = httpx.post(
            edge.url + submit_path(doc_id=doc), content=b'{"hello": "pubsub"}', headers={"User-Agent": "test/1", "X-Debug-ID": "dbg"}
        )
        assert r.status_code == 200
        messages = pull_all(subscriber, sub, settle=1.0)
    assert len(messages) == 1
    message = messages[0]
    assert message.data == b'{"hello": "pubsub"}'
    attrs = dict(message.attributes)
    assert attrs["uri"].endswith(doc) and attrs["method"] == "POST" and attrs["user_agent"] == "test/1"
    assert attrs["x_debug_id"] == "dbg" and attrs["submission_timestamp"].endswith("Z")
    assert not list((tmp_path / "spool").glob("*.ndjson")), "nothing should have been spooled"


def test_route_table_decides_404_and_405(tmp_path, topic, pubsub_emulator):
    name, _, _ = topic
    args = edge_args(tmp_path, name, extra=[["/submit/readonly/<rest:path>", name, ["PUT"]]])
    routes_file(tmp_path, name).write_text(
        json.dumps([["/submit/readonly/<rest:path>", name, ["PUT"]], ["/submit/eng-workflow/<rest:path>", name]])
    )
    with run_edge(tmp_path / "spool", *args, env=pubsub_emulator.env()) as edge:
        doc = str(uuid.uuid4())
        assert httpx.post(edge.url + submit_path("eng-workflow", doc_id=doc), content=b"{}").status_code == 200
        assert httpx.post(edge.url + submit_path("other-ns", doc_id=doc), content=b"{}").status_code == 404
        assert httpx.post(edge.url + submit_path("readonly", doc_id=doc), content=b"{}").status_code == 405
        assert httpx.put(edge.url + submit_path("readonly", doc_id=doc), content=b"{}").status_code == 200


def test_broker_outage_under_load_every_200_arrives_after_it_is_back(tmp_path, topic, pubsub_emulator):
    name, sub, subscriber = topic
    with run_edge(tmp_path / "spool", *edge_args(tmp_path, name), env=pubsub_emulator.env(), metrics=True) as edge:
        results = {}
        thread = threading.Thread(target=lambda: results.update(load=load(edge.port, 3000, threads=8, pace=0.002)))
        thread.start()
        time.sleep(1.0)
        pubsub_emulator.pause()  # the broker stops answering (SIGSTOP)
        try:
            time.sleep(3.0)
            heartbeat = httpx.get(edge.url + "/__heartbeat__").json()
        finally:
            pubsub_emulator.resume()
        thread.join()
        accepted = results["load"].ok
        assert results["load"].other == {} and results["load"].errors == 0
        assert "spooling" in heartbeat["checks"]["pubsub"]
        messages = pull_all(subscriber, sub, settle=4.0, deadline=120)
        metrics = httpx.get(f"http://127.0.0.1:{edge.metrics_port}/metrics").text
    received = [m.attributes["uri"].rsplit("/", 1)[1] for m in messages]
    missing = set(accepted) - set(received)
    duplicates = len(received) - len(set(received))
    spooled = [line for line in metrics.splitlines() if line.startswith("pingpipe_edge_spooled_messages_total")]
    print(f"\naccepted {len(accepted)}, received {len(received)}, duplicates {duplicates}, {spooled}")
    assert not missing, f"{len(missing)} acknowledged pings never reached the topic"
    assert float(spooled[0].split()[-1]) > 0, "the outage never sent anything to the disk queue"


def test_a_queue_left_by_a_killed_edge_is_flushed_after_restart(tmp_path, topic, pubsub_emulator):
    name, sub, subscriber = topic
    spool = tmp_path / "spool"
    args = edge_args(tmp_path, name)
    pubsub_emulator.pause()
    try:
        with run_edge(spool, *args, env=pubsub_emulator.env()) as edge:
            accepted = spool_200(edge)
            edge.kill()  # kill -9 with everything still on disk
    finally:
        pubsub_emulator.resume()
    assert list(spool.glob("*.ndjson*")), "messages should have been spooled while the broker was down"
    with run_edge(spool, *args, env=pubsub_emulator.env()):
        messages = pull_all(subscriber, sub, settle=4.0, deadline=90)
        time.sleep(1.0)
        leftover = [p for p in spool.glob("*.ndjson*") if p.stat().st_size]
    received = {m.attributes["uri"].rsplit("/", 1)[1] for m in messages}
    assert set(accepted) <= received
    assert not leftover, f"flushed segments must be deleted: {leftover}"


def test_on_sigterm_the_edge_republishes_what_it_spooled_before_it_exits(tmp_path, topic, pubsub_emulator):
    """A pod scaled down gets SIGTERM: what it spooled during an outage reaches the topic before it
    exits, not whenever (if ever) a pod with its volume comes back. The flush loop is stopped by then,
    so only the shutdown flush can have published them."""
    import signal

    name, sub, subscriber = topic
    spool = tmp_path / "spool"
    pubsub_emulator.pause()
    try:
        with run_edge(spool, *edge_args(tmp_path, name), env=pubsub_emulator.env()) as edge:
            accepted = spool_200(edge)
            assert list(spool.glob("*.ndjson*")), "the outage should have spooled them"
            edge.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            pubsub_emulator.resume()  # Pub/Sub is back while the edge is shutting down
            assert edge.proc.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
            log = edge.proc.stderr.read()
    finally:
        pubsub_emulator.resume()
    assert "shutting down: republished 200 spooled message(s)" in log, log
    messages = pull_all(subscriber, sub, settle=3.0, deadline=60)
    received = {m.attributes["uri"].rsplit("/", 1)[1] for m in messages}
    assert set(accepted) <= received
    assert not [p for p in spool.glob("*.ndjson*") if p.stat().st_size], "nothing may stay stranded on the volume"


def test_a_volume_whose_pod_is_gone_is_drained_by_another_process(tmp_path, topic, pubsub_emulator):
    """`pingpipe edge --drain` (deploy/kubernetes/drain-spool.yaml): a pod killed during an outage
    left sealed segments, an open one and a segment it had claimed for flushing (as pod
    pingpipe-edge-3, pid 1); another process on another host drains all of it, waiting while
    Pub/Sub is still down, and exits once the volume is empty."""
    import subprocess

    from ..helpers import PINGPIPE

    name, sub, subscriber = topic
    spool = tmp_path / "spool"
    pubsub_emulator.pause()
    try:
        with run_edge(spool, *edge_args(tmp_path, name), env=pubsub_emulator.env()) as edge:
            accepted = spool_200(edge)
            edge.kill()
        sealed = sorted(spool.glob("*.ndjson"))
        assert sealed, "the outage should have spooled them"
        sealed[0].rename(sealed[0].with_name(sealed[0].name + ".flushing-pingpipe-edge-3-1"))
        drain = subprocess.Popen(
            [PINGPIPE, "edge", "--drain", "--queue", str(spool), *edge_args(tmp_path, name)],
            env=pubsub_emulator.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert drain.poll() is None, "Pub/Sub is down: the drain waits"
    finally:
        pubsub_emulator.resume()
    out, err = drain.communicate(timeout=120)
    assert drain.returncode == 0, out + err
    assert "republished 200 message(s); it is empty" in out, out + err
    received = {m.attributes["uri"].rsplit("/", 1)[1] for m in pull_all(subscriber, sub, settle=3.0, deadline=60)}
    assert set(accepted) <= received
    assert not list(spool.glob("*.ndjson*")), "nothing may stay on the volume"


def test_a_drain_keeps_what_no_route_takes_and_says_the_volume_is_not_empty(tmp_path, topic, pubsub_emulator):
    """A message queued under a route table that has changed since is an accepted ping: the drain
    republishes the rest, keeps it beside the spool, and fails, so that nobody deletes the volume."""
    import subprocess

    from pingpipe.message import encode_line

    from ..helpers import PINGPIPE

    name, sub, subscriber = topic
    spool = tmp_path / "spool"
    spool.mkdir()
    routed, stray = str(uuid.uuid4()), str(uuid.uuid4())
    (spool / "01000000000000000000-gone-1-000001.ndjson").write_bytes(
        encode_line(b"{}", {"uri": f"/submit/app/ping/1/{routed}"}) + encode_line(b"{}", {"uri": f"/old/{stray}"})
    )
    drain = subprocess.run(
        [PINGPIPE, "edge", "--drain", "--queue", str(spool), *edge_args(tmp_path, name)],
        env=pubsub_emulator.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drain.returncode == 1, drain.stdout + drain.stderr
    assert "republished 1 message(s); 1 match no route" in drain.stderr and "Traceback" not in drain.stderr
    received = {m.attributes["uri"].rsplit("/", 1)[1] for m in pull_all(subscriber, sub, settle=2.0, deadline=30)}
    assert received == {routed}
    (kept,) = spool.glob("*.keep")
    assert stray.encode() in kept.read_bytes()


def test_a_flush_stopped_midway_releases_its_segment_and_the_shutdown_flush_republishes_it(tmp_path, topic, pubsub_emulator, monkeypatch):
    """SIGTERM may cancel the flush loop while Pub/Sub holds its publishes: the segment it claimed must go
    back to the queue, or the shutdown flush would leave it stranded on the volume under a claim."""
    import asyncio

    from pingpipe.edge.config import Route
    from pingpipe.edge.publish.pubsub import PubSubPublisher
    from pingpipe.edge.publish.segments import sealed_segments
    from pingpipe.message import encode_line

    for key, value in pubsub_emulator.env().items():
        monkeypatch.setenv(key, value)
    name, sub, subscriber = topic
    spool = tmp_path / "spool"
    ids = [str(uuid.uuid4()) for _ in range(20)]

    async def scenario() -> int:
        publisher = PubSubPublisher((Route("/submit/<suffix:path>", f"projects/test/topics/{name}"),), spool_dir=spool, flush_interval=3600)
        await publisher.start()
        for doc in ids:
            await publisher.spool.append(encode_line(b"{}", {"uri": f"/submit/x/y/1/{doc}"}))
        publisher.spool.seal_now()
        pubsub_emulator.pause()
        try:
            flushing = asyncio.get_running_loop().create_task(publisher.flush_once())
            await asyncio.sleep(1.0)  # claimed, its publishes held by the paused emulator
            assert not sealed_segments(spool)
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
            assert len(sealed_segments(spool)) == 1, "the claim must be released"
        finally:
            pubsub_emulator.resume()
        await publisher.close()
        return publisher.flushed

    assert asyncio.run(scenario()) >= len(ids)
    received = {m.attributes["uri"].rsplit("/", 1)[1] for m in pull_all(subscriber, sub, settle=2.0, deadline=60)}
    assert set(ids) <= received
    assert not [p for p in spool.iterdir() if p.stat().st_size], "nothing may stay on the volume"
