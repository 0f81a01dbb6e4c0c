"""What `decode` and `load` say after handing a job to Dataflow, from the results Beam's DataflowRunner
returns (its own classes; no service is called)."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from pingpipe.cli.beamrun import submitted


def test_a_submitted_job_is_named_with_its_console_page():
    from apache_beam.runners.dataflow.dataflow_runner import DataflowPipelineResult
    from google.cloud.dataflow import Job

    options = PipelineOptions(["--project=my-project", "--region=europe-west1"])
    result = DataflowPipelineResult(Job(id="2026-12-07_08_00_00-123"), runner=None, options=options)
    assert submitted(result, options) == (
        "submitted Dataflow job 2026-12-07_08_00_00-123; its progress and counters: "
        "https://console.cloud.google.com/dataflow/jobs/europe-west1/2026-12-07_08_00_00-123?project=my-project"
    )
