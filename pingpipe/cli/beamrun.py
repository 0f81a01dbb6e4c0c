"""Running a Beam pipeline from a command and saying what it did, from its counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

SERVICE_RUNNERS = ("DataflowRunner", "TestDataflowRunner")  # as Beam's validator names them


def runs_on_a_service(pipeline) -> bool:
    """The runner hands the job to a service (Dataflow) and this process only submits it: a Flex
    Template's launcher must exit, a streaming job never ends, and the counters live on the service."""
    return type(pipeline.runner).__name__ in SERVICE_RUNNERS


def run_and_report(pipeline, summary: Callable[[Counter], str]) -> str:
    """Run the pipeline; the line to print: `summary` of its counters where it ran here, or where the
    job went where a service runs it."""
    if runs_on_a_service(pipeline):
        return submitted(pipeline.run(), pipeline.options)
    return summary(run_counted(pipeline))


def submitted(result, options) -> str:
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    cloud = options.view_as(GoogleCloudOptions)
    if not result.has_job:  # --template_location: Dataflow wrote the job there, to be launched from it
        return f"wrote the job's template to {cloud.template_location}; nothing was run"
    return (
        f"submitted Dataflow job {result.job_id()}; its progress and counters: "
        f"https://console.cloud.google.com/dataflow/jobs/{cloud.region}/{result.job_id()}?project={cloud.project}"
    )


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
