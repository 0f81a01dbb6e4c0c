"""Prometheus metrics of every stage of `pingpipe up`, served by `up` itself on --metrics-port.

The edge's own series (pingpipe_edge_*: edge/metrics.py, summed over its processes' files) and up's:
the queue (depth, oldest segment's age), what commits wrote (rows per table, error rows per type and
duplicates, by app family and doctype), worker and commit latency, segment retries and give-ups, and
the daily cycle (runs by outcome, step durations, last success). Names follow Prometheus' conventions:
base units, `_total` on counters (prometheus-client adds it), `_seconds` on durations. The Grafana
dashboard and the alert rules in deploy/monitoring/up/ read only these (tests/up/test_metrics.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from pingpipe import jsontext
from pingpipe.decoder.failures import DUPLICATE
from pingpipe.edge.publish.segments import sealed_segments
from pingpipe.schemas.names import (
    DOCUMENT_NAMESPACE,
    DOCUMENT_TYPE,
    TableId,
    dataset_family,
    family_of,
    is_error_table,
    sanitize_identifier,
    unversioned,
)

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CYCLE_SECONDS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class QueueCollector:
    """The queue as it is at scrape time: sealed segments waiting, their bytes, the oldest one's age
    (its name starts with the nanosecond it was opened)."""

    def __init__(self, queue: Path):
        self.queue = queue

    def collect(self):
        segments, size, oldest = 0, 0, None
        for path in sealed_segments(self.queue) if self.queue.is_dir() else []:
            try:
                size += path.stat().st_size
            except FileNotFoundError:
                continue
            segments += 1
            if oldest is None:
                try:
                    oldest = int(path.name.split("-", 1)[0]) / 1e9
                except ValueError:
                    pass
        yield GaugeMetricFamily("pingpipe_queue_segments", "Sealed queue segments waiting for the workers", value=segments)
        yield GaugeMetricFamily("pingpipe_queue_bytes", "Bytes of the sealed queue segments waiting", value=size)
        age = max(0.0, time.time() - oldest) if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "pingpipe_queue_oldest_segment_age_seconds", "Age of the oldest sealed segment waiting (0: none)", value=age
        )


class UpMetrics:
    """up's own series, bumped by its scheduler and commit thread (prometheus-client's metrics lock),
    at most a few times a second: not on any request path."""

    def __init__(self, queue: Path, edge_counts: Path | None = None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.rows = Counter("pingpipe_rows", "Rows committed to live tables", ["family", "doctype", "table"], registry=r)
        self.errors = Counter("pingpipe_error_rows", "Error rows committed, by error type", ["family", "doctype", "error_type"], registry=r)
        self.duplicates = Counter("pingpipe_duplicates", "Counted duplicates committed", ["family", "doctype"], registry=r)
        self.worker_seconds = Histogram(
            "pingpipe_worker_seconds", "Time a group of segments spent at the workers", buckets=SECONDS, registry=r
        )
        self.commit_seconds = Histogram("pingpipe_commit_seconds", "Time one commit took", buckets=SECONDS, registry=r)
        self.retries = Counter(
            "pingpipe_segment_retries", "Segment groups whose processing or commit failed, to be tried again", registry=r
        )
        self.given_up = Counter(
            "pingpipe_segments_given_up", "Segments given up after their retries: their messages became error rows", registry=r
        )
        self.cycle_runs = Counter("pingpipe_cycle_runs", "Daily cycles run, by outcome", ["outcome"], registry=r)
        self.cycle_steps = Histogram(
            "pingpipe_cycle_step_seconds", "Time each step of the daily cycle took", ["step"], buckets=CYCLE_SECONDS, registry=r
        )
        self.cycle_success = Gauge(
            "pingpipe_cycle_last_success_timestamp_seconds", "When the last daily cycle succeeded (Unix time)", registry=r
        )
        for outcome in ("ok", "failed"):
            self.cycle_runs.labels(outcome)  # both series from the start: an alert on `failed` needs it at 0
        r.register(QueueCollector(queue))
        if edge_counts is not None:
            from pingpipe.edge.metrics import edge_collector

            r.register(edge_collector(edge_counts))

    def committed(self, batches: dict) -> None:
        """A commit's batches (table -> (fields, rows)), as written."""
        for table, (_, rows) in batches.items():
            if not rows:
                continue
            if is_error_table(table):
                for row in rows:
                    row = jsontext.loads(row) if isinstance(row, (bytes, bytearray)) else row
                    family = dataset_family(row.get(DOCUMENT_NAMESPACE) or "")
                    doctype = sanitize_identifier(row.get(DOCUMENT_TYPE) or "")
                    if row.get("error_type") == DUPLICATE:
                        self.duplicates.labels(family, doctype).inc()
                    else:
                        self.errors.labels(family, doctype, row.get("error_type") or "").inc()
            else:
                family, doctype = labels_of(table)
                self.rows.labels(family, doctype, str(table)).inc(len(rows))

    def cycle(self, report: dict | None, failed: bool = False) -> None:
        """A daily cycle's outcome, and each step's time (cycle.run_plan's `seconds`)."""
        self.cycle_runs.labels("failed" if failed else "ok").inc()
        if not failed:
            self.cycle_success.set(time.time())
        for step, seconds in ((report or {}).get("seconds") or {}).items():
            self.cycle_steps.labels(step).observe(seconds)


def labels_of(table: TableId) -> tuple[str, str]:
    """A live table's app family and doctype, as the error rows' are labelled."""
    return family_of(table.dataset) or table.dataset, unversioned(table.table)
