"""Streaming: the DirectRunner in streaming mode reads the real Pub/Sub emulator."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ..fixtures import VALIDATION

pytestmark = pytest.mark.external


def make(publisher, subscriber, project, name):
    topic = publisher.topic_path(project, name)
    sub = subscriber.subscription_path(project, name)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)
    return topic, sub


def pull(subscriber, sub, want: int, timeout: float = 90.0, proc=None) -> list:
    got = []
    end = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end and (proc is None or proc.poll() is None):
        response = subscriber.pull(request={"subscription": sub, "max_messages": 100}, timeout=10)
        if response.received_messages:
            got += [m.message for m in response.received_messages]
            subscriber.acknowledge(request={"subscription": sub, "ack_ids": [m.ack_id for m in response.received_messages]})
        else:
            time.sleep(0.5)
    return got


def test_streaming_pipeline_decodes_dedupes_and_errors_from_pubsub(tmp_path, pubsub_emulator, registry_root, geoip_db):
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    project = "pingpipe-test"  # Beam insists on a real-looking project id (6-30 characters)
    suffix = uuid.uuid4().hex[:6]
    raw_topic, raw_sub = make(publisher, subscriber, project, f"raw-{suffix}")
    decoded_topic, decoded_sub = make(publisher, subscriber, project, f"decoded-{suffix}")
    errors_topic, errors_sub = make(publisher, subscriber, project, f"errors-{suffix}")
    pingpipe = str(Path(sys.executable).with_name("pingpipe"))
    proc = subprocess.Popen(
        [
            pingpipe,
            "decode",
            "--input",
            f"pubsub:{raw_sub}",
            "--output",
            f"pubsub:{decoded_topic}",
            "--errors",
            f"pubsub:{errors_topic}",
            "--schemas",
            str(registry_root),
            "--geoip-db",
            str(geoip_db),
            "--dedupe-window",
            "600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **pubsub_emulator.env()},
        start_new_session=True,
    )
    try:
        body = gzip.compress((VALIDATION / "eng-workflow/hgpush.1.sample.pass.json").read_bytes())
        doc = str(uuid.uuid4())
        good = [str(uuid.uuid4()) for _ in range(5)]
        futures = [
            publisher.publish(
                raw_topic,
                body,
                uri=f"/submit/eng-workflow/hgpush/1/{d}",
                remote_addr="81.2.69.160",
                submission_timestamp="2026-11-23T10:00:00.000000Z",
            )
            for d in good
        ]
        futures += [publisher.publish(raw_topic, body, uri=f"/submit/eng-workflow/hgpush/1/{doc}") for _ in range(2)]
        futures.append(publisher.publish(raw_topic, b"{}", uri=f"/submit/eng-workflow/hgpush/1/{uuid.uuid4()}"))
        for f in futures:
            f.result(timeout=30)
        decoded = pull(subscriber, decoded_sub, want=6, proc=proc)
        errors = pull(subscriber, errors_sub, want=2, proc=proc)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it exited by itself: its output says why
            pass
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert len(decoded) == 6, output[-3000:]
    ids = sorted(m.attributes["document_id"] for m in decoded)
    assert ids == sorted(good + [doc])
    assert sorted(m.attributes["error_type"] for m in errors) == ["ParsePayload", "duplicate"]
    assert all("remote_addr" not in m.attributes for m in decoded + errors)
