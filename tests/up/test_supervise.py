"""How `up` keeps its edge running, in memory: restarted when it exits, until it keeps exiting."""

from __future__ import annotations

import io

from pingpipe.up.supervise import EDGE_RESTARTS, Stop, edge_exits


def test_an_edge_that_exits_is_restarted_until_it_exits_more_than_the_limit_within_a_minute():
    exits: list[float] = []
    for i in range(EDGE_RESTARTS):
        exits, too_many = edge_exits(exits, 10.0 * i)
        assert not too_many
    exits, too_many = edge_exits(exits, 10.0 * EDGE_RESTARTS)
    assert too_many


def test_exits_older_than_a_minute_are_forgotten():
    exits = [0.0, 1.0, 2.0]
    exits, too_many = edge_exits(exits, 61.5)
    assert exits == [2.0, 61.5] and not too_many


def test_a_stop_is_out_of_time_only_once_begun_and_past_the_drain_timeout():
    out = io.StringIO()
    stop = Stop(drain_timeout=0.0, out=out)
    assert not stop.stopping and not stop.out_of_time(1e12)
    stop.begin("stopping")
    assert stop.stopping and stop.out_of_time(stop.deadline) and out.getvalue() == "stopping\n"
