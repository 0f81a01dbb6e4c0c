"""Prometheus metrics of the edge, served on their own port (prometheus-client).

The request path only bumps plain integers (a prometheus Counter takes a lock and costs
microseconds the hot path does not have); a custom collector turns them into Prometheus metric
families at scrape time. With several worker processes, each worker writes its numbers to a
small file every second and the metrics server sums the files.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import defaultdict
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
METRICS_DIR_ENV = "PINGPIPE_EDGE_METRICS_DIR"  # where each edge process writes its numbers, every second and on exit


class EdgeMetrics:
    def __init__(self) -> None:
        self.codes: dict[int, int] = defaultdict(int)
        self.body_bytes = 0
        self.latency = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.spooled = 0
        self.flushed = 0
        self.flush_failures = 0
        self.queue_segments = 0
        self.queue_bytes = 0
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(lambda: [self.snapshot()]))

    def count(self, code: int) -> None:
        self.codes[code] += 1

    def observe_publish(self, seconds: float, body_bytes: int) -> None:
        self.latency[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        self.body_bytes += body_bytes

    def snapshot(self) -> dict:
        return {
            "codes": {str(k): v for k, v in self.codes.items()},
            "body_bytes": self.body_bytes,
            "latency": list(self.latency),
            "latency_sum": self.latency_sum,
            "spooled": self.spooled,
            "flushed": self.flushed,
            "flush_failures": self.flush_failures,
            "queue_segments": self.queue_segments,
            "queue_bytes": self.queue_bytes,
            "pid": os.getpid(),
        }

    def dump(self) -> None:
        """Multi-worker mode: publish this worker's numbers for the metrics server."""
        folder = os.environ.get(METRICS_DIR_ENV)
        if folder:
            path = Path(folder) / f"{os.getpid()}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.snapshot()))
            os.replace(tmp, path)


class _Collector:
    def __init__(self, snapshots):
        self.snapshots = snapshots

    def collect(self):
        snaps = self.snapshots()
        codes: dict[str, int] = defaultdict(int)
        latency = [0] * (len(BUCKETS) + 1)
        totals: dict[str, float] = defaultdict(float)
        for snap in snaps:
            for code, n in snap["codes"].items():
                codes[code] += n
            for i, n in enumerate(snap["latency"]):
                latency[i] += n
            for key in ("body_bytes", "latency_sum", "spooled", "flushed", "flush_failures", "queue_segments", "queue_bytes"):
                totals[key] += snap[key]
        requests = CounterMetricFamily("pingpipe_edge_requests", "Submission requests by response code", labels=["code"])
        for code in sorted(codes):
            requests.add_metric([code], codes[code])
        yield requests
        yield CounterMetricFamily("pingpipe_edge_request_bytes", "Body bytes accepted", value=totals["body_bytes"])
        cumulative, buckets = 0, []
        for bound, n in zip(list(BUCKETS) + [float("inf")], latency, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
        yield HistogramMetricFamily(
            "pingpipe_edge_publish_seconds", "Time from request to durable publish", buckets=buckets, sum_value=totals["latency_sum"]
        )
        yield GaugeMetricFamily("pingpipe_edge_queue_segments", "Sealed segments waiting on local disk", value=totals["queue_segments"])
        yield GaugeMetricFamily("pingpipe_edge_queue_bytes", "Bytes waiting on local disk", value=totals["queue_bytes"])
        yield CounterMetricFamily("pingpipe_edge_spooled_messages", "Messages written to the disk fallback", value=totals["spooled"])
        yield CounterMetricFamily("pingpipe_edge_flushed_messages", "Queued messages republished to Pub/Sub", value=totals["flushed"])
        yield CounterMetricFamily("pingpipe_edge_flush_failures", "Flush rounds that failed", value=totals["flush_failures"])


def snapshots(folder: Path) -> list[dict]:
    """The numbers every edge process wrote to `folder` (exited ones included: their counts stand)."""
    out = []
    for path in folder.glob("*.json"):
        try:
            snap = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(int(snap["pid"]), 0)
        except (ProcessLookupError, ValueError):
            snap["queue_segments"] = snap["queue_bytes"] = 0  # a dead worker holds no queue
        out.append(snap)
    return out


def edge_collector(folder: Path) -> _Collector:
    """The edge's series, summed over the numbers its processes wrote to `folder` (for a registry of
    another process: `pingpipe up` serves them with its own)."""
    return _Collector(lambda: snapshots(folder))


def answers(folder: Path) -> dict[int, int]:
    """Submissions answered, by status code, summed over the edge processes that wrote to `folder`:
    how another process (`pingpipe up`) reads the edge's counts."""
    totals: dict[int, int] = defaultdict(int)
    for snap in snapshots(folder):
        for code, n in snap["codes"].items():
            totals[int(code)] += n
    return dict(totals)


def serve(port: int, host: str = "127.0.0.1", registry: CollectorRegistry | None = None) -> None:
    """Expose metrics: this process's registry, or the sum of all workers' files."""
    folder = os.environ.get(METRICS_DIR_ENV)
    if registry is None and folder:
        registry = CollectorRegistry()
        registry.register(_Collector(lambda: snapshots(Path(folder))))
    start_http_server(port, addr=host, registry=registry)
