"""Running a Beam pipeline from a command and saying what it did, from its counters."""

from __future__ import annotations

from collections import Counter


def run_counted(pipeline) -> Counter:
    """Run to the end; the counters by `namespace.name` (empty where a runner reports none)."""
    from apache_beam.metrics.metric import MetricsFilter

    result = pipeline.run()
    result.wait_until_finish()
    counts: Counter = Counter()
    try:
        for c in result.metrics().query(MetricsFilter())["counters"]:
            counts[f"{c.key.metric.namespace}.{c.key.metric.name}"] += c.result or 0
    except (NotImplementedError, KeyError, AttributeError):
        pass
    return counts


def errors_by_type(counts: Counter, namespace: str) -> str:
    kinds = sorted((k.split(".", 2)[2], n) for k, n in counts.items() if k.startswith(f"{namespace}.error.") and n)
    return ", ".join(f"{kind} {n}" for kind, n in kinds) or "none"
