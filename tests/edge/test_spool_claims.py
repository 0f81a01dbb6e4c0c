"""Which segments claimed for flushing an edge takes back when it starts (or drains a volume)."""

from __future__ import annotations

import pytest

from pingpipe.edge.publish.pubsub import stale_claim

SEGMENT = "1795941486000000000-pingpipe-edge-0-1-3.ndjson"


@pytest.mark.parametrize(
    "owner, stale, why",
    [
        ("pingpipe-edge-0-1", True, "this very pid on this host: a restarted pod is pid 1 again"),
        ("pingpipe-edge-3-1", True, "another host: the volume moved (a drain Job, a rescheduled pod)"),
        ("pingpipe-edge-0-4242", True, "a dead process on this host"),
        ("pingpipe-edge-0-77", False, "a live sibling worker on this host"),
        ("4242", True, "an old claim without a host, its process dead"),
        ("77", False, "an old claim without a host, its process alive"),
        ("pingpipe-edge-0-x", True, "unreadable"),
    ],
)
def test_a_claim_is_taken_back_when_its_flusher_is_gone(owner, stale, why):
    alive = {1, 77}.__contains__
    assert stale_claim(f"{SEGMENT}.flushing-{owner}", "pingpipe-edge-0", 1, alive) is stale, why
