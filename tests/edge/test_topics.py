"""`pingpipe pubsub-setup`: the topics and subscriptions a deployment needs, made on the real Pub/Sub
emulator from the edge's route table, twice with the same result."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from pingpipe.edge.config import parse_route_table
from pingpipe.edge.topics import plan

from ..helpers import PINGPIPE


def test_the_plan_is_each_raw_topic_with_the_decoders_subscription_and_the_errors_topic():
    routes = parse_route_table(
        [["/submit/telemetry/<suffix:path>", "raw-telemetry"], ["/submit/a/<suffix:path>", "raw"], ["/submit/<suffix:path>", "raw"]], "p"
    )
    p = plan(routes, "p")
    assert p.topics == ("projects/p/topics/raw-telemetry", "projects/p/topics/raw", "projects/p/topics/errors")
    assert p.subscriptions == (
        ("projects/p/subscriptions/raw-telemetry-decoder", "projects/p/topics/raw-telemetry"),
        ("projects/p/subscriptions/raw-decoder", "projects/p/topics/raw"),
        ("projects/p/subscriptions/errors-loader", "projects/p/topics/errors"),
    )


@pytest.mark.external
def test_pubsub_setup_makes_them_on_the_emulator_and_keeps_them_when_run_again(tmp_path, pubsub_emulator):
    from google.cloud import pubsub_v1

    raw, errors = f"raw-{uuid.uuid4().hex[:8]}", f"errors-{uuid.uuid4().hex[:8]}"
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps([["/submit/<suffix:path>", raw]]))
    command = [
        PINGPIPE,
        "pubsub-setup",
        "--pubsub-project",
        pubsub_emulator.project,
        "--route-table",
        str(routes),
        "--errors-topic",
        errors,
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, env=pubsub_emulator.env())
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created ") == 4 and "kept" not in first.stdout, first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, env=pubsub_emulator.env())
    assert again.returncode == 0 and again.stdout.count("kept ") == 4, again.stdout + again.stderr
    subscriber = pubsub_v1.SubscriberClient()
    for reader in (f"{raw}-decoder", f"{errors}-loader"):  # never deleted for want of a reader; a week of backlog kept
        sub = subscriber.get_subscription(subscription=f"projects/{pubsub_emulator.project}/subscriptions/{reader}")
        assert not sub.expiration_policy.ttl and sub.message_retention_duration.total_seconds() == 7 * 86400, reader
    assert sub.topic == f"projects/{pubsub_emulator.project}/topics/{errors}" and sub.ack_deadline_seconds == 120
    publisher = pubsub_v1.PublisherClient()  # the errors topic takes messages, and its subscription gets them
    publisher.publish(f"projects/{pubsub_emulator.project}/topics/{errors}", b"x").result(timeout=30)
    pulled = subscriber.pull(subscription=f"projects/{pubsub_emulator.project}/subscriptions/{errors}-loader", max_messages=1, timeout=30)
    assert [m.message.data for m in pulled.received_messages] == [b"x"]


@pytest.mark.external
def test_a_subscription_made_before_with_pubsubs_default_expiry_is_named_with_the_fix(tmp_path, pubsub_emulator):
    from google.cloud import pubsub_v1

    raw = f"raw-{uuid.uuid4().hex[:8]}"
    project = pubsub_emulator.project
    pubsub_v1.PublisherClient().create_topic(name=f"projects/{project}/topics/{raw}")
    subscriber = pubsub_v1.SubscriberClient()
    name = f"projects/{project}/subscriptions/{raw}-decoder"
    subscriber.create_subscription(
        request={"name": name, "topic": f"projects/{project}/topics/{raw}", "expiration_policy": {"ttl": {"seconds": 31 * 86400}}}
    )
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps([["/submit/<suffix:path>", raw]]))
    command = [PINGPIPE, "pubsub-setup", "--pubsub-project", project, "--route-table", str(routes), "--errors-topic", raw]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=pubsub_emulator.env())
    assert done.returncode == 0, done.stderr
    fix = f"gcloud pubsub subscriptions update {name} --expiration-period=never --message-retention-duration=7d"
    assert f"kept {name}, which is deleted after 31 days unread: {fix}" in done.stdout, done.stdout
