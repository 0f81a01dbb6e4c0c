"""What `up` says, in memory: the lag, the status line, the banner, each skip reason once, the line's pace."""

from __future__ import annotations

import io
from pathlib import Path

from pingpipe.up.config import UpConfig
from pingpipe.up.report import Reporter, banner, lag, new_skips, status_line


def test_the_lag_is_the_age_of_the_oldest_uncommitted_segment_and_zero_when_all_is_committed():
    assert lag(None, 1000.0) == 0.0
    assert lag(f"{998_500_000_000:020d}-host-000001.ndjson", 1000.0) == 1.5
    assert lag(f"{1_001_000_000_000:020d}-host-000001.ndjson", 1000.0) == 0.0  # a clock step back is no negative lag


def test_the_status_line_counts_accepted_loaded_errors_duplicates_and_the_lag():
    totals = {"rows": 7, "errors": 2, "duplicates": 1}
    assert status_line(10, totals, 0.25) == "edge accepted 10 · loaded 7 · errors 2 · duplicates 1 · lag 0.2 s"


def test_the_banner_names_the_edge_the_admin_port_the_dictionary_link_and_the_followed_logs():
    config = UpConfig(data=Path("/d"), port=8080, logs=Path("/var/log/app"))
    text = banner(config, 5555, "http://127.0.0.1:8081/", "http://127.0.0.1:8081/?token=t")
    assert "http://127.0.0.1:8080/submit/<namespace>" in text and "http://127.0.0.1:5555" in text
    assert "http://127.0.0.1:8081/?token=t" in text and "X-Debug-ID: http://127.0.0.1:8081/debug/" in text
    assert "/var/log/app: Glean server events" in text and "not served (--metrics-port PORT)" in text
    assert "logs " not in banner(UpConfig(data=Path("/d")), 1, "u/", "l")


def test_each_reason_for_skipping_lines_is_said_once():
    said: set[str] = set()
    assert new_skips({"b": 1, "a": 2}, said) == ["a", "b"]
    assert new_skips({"a": 3, "b": 1, "c": 1}, said) == ["c"]
    assert new_skips({"a": 4}, said) == []


def test_not_on_a_terminal_the_line_is_printed_now_and_then_and_the_final_one_always():
    out = io.StringIO()
    reporter = Reporter(UpConfig(data=Path("/d")), out)
    reporter.line("one")
    reporter.line("two")  # within the pause: not printed
    reporter.line("three", final=True)
    assert out.getvalue() == "one\nstopped: three\n"


def test_the_cycle_line_counts_the_checks_that_failed_and_warned():
    from pingpipe.up.warehouse import cycle_summary

    checks = {"a.t": [{"marker": "fail", "passed": False}, {"marker": "warn", "passed": False}, {"marker": "warn", "passed": True}]}
    line = cycle_summary({"day": "2026-12-01", "etl": {"ran": {"a.t": 3}, "failed": {"a.t": "…"}, "checks": checks}})
    assert line.endswith("derived tables 1 (1 failed, checks: 1 failed, 1 warning(s))")
    assert cycle_summary({"day": "2026-12-01", "etl": {"ran": {"a.t": 3}, "failed": {}}}).endswith("derived tables 1 (0 failed)")
