"""The decode pipeline from its specs, as `pingpipe decode`, the benchmarks and the tests build it:
read -> Decode -> outputs (files, Pub/Sub, or a warehouse).

A warehouse output is written by the loader's transform, which the caller hands in (`load`:
loader.sink.WriteToWarehouse): the loader imports the decoder, never the reverse.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import apache_beam as beam

from .core import DecoderConfig
from .dedupe import DedupeConfig
from .io import ReadRaw, SpecError, WriteRaw, parse_input, parse_output
from .pipeline import Decode


def progress(label: str, every: float = 5.0) -> beam.PTransform:
    """A pass-through step that says, every `every` seconds on stderr, how many elements it has seen
    (per worker: on one machine, the run's; on Dataflow, in each worker's log)."""

    class Progress(beam.DoFn):
        def setup(self):
            self.seen, self.start = 0, time.monotonic()
            self.last = self.start

        def process(self, element):
            self.seen += 1
            if self.seen % 1024 == 0 and (now := time.monotonic()) - self.last >= every:
                self.last = now
                print(f"{label}: {self.seen:,} ({self.seen / (now - self.start):,.0f}/s)", file=sys.stderr, flush=True)
            yield element

    return beam.ParDo(Progress())


def build_pipeline(
    pipeline,
    config: DecoderConfig,
    input_spec: str,
    output_spec: str,
    errors_spec: str | None,
    dedupe_window: float = DedupeConfig.window,
    show_progress: bool = False,
    load: Callable[[str, object], beam.PTransform] | None = None,
):
    """Wire read -> Decode -> writes into `pipeline`; returns the output PCollections.

    A warehouse output (duckdb:PATH, bigquery:PROJECT) runs `load(warehouse, schemas)` in the same
    pipeline; errors then go to its error tables unless `errors_spec` sends them elsewhere.
    """
    source = parse_input(input_spec)
    sink = parse_output(output_spec)
    error_sink = parse_output(errors_spec) if errors_spec else sink
    if error_sink.kind != "warehouse" and not errors_spec:
        raise SpecError("--errors is required unless --output is a warehouse")
    if "warehouse" in (sink.kind, error_sink.kind):
        if load is None:
            raise SpecError("a warehouse output needs the loader: build_pipeline(..., load=WriteToWarehouse)")
        if sink.kind == error_sink.kind == "warehouse" and sink.target != error_sink.target:
            raise SpecError("decoded and error outputs must be the same warehouse")
    raw = pipeline | "Read" >> ReadRaw(source)
    if show_progress:
        raw = raw | "Progress" >> progress("decode: messages read, so far")
    result = raw | "Decoder" >> Decode(config, streaming=source.streaming, dedupe_window=dedupe_window)
    errors = result["errors"]
    to_warehouse = []
    decoded = result["decoded"]
    if show_progress:
        decoded = decoded | "ProgressDecoded" >> progress("decode: pings decoded, so far")
    for label, collection, endpoint in (("Decoded", decoded, sink), ("Errors", errors, error_sink)):
        if endpoint.kind == "warehouse":
            to_warehouse.append(collection)
        else:
            collection | f"Write{label}" >> WriteRaw(endpoint, label)
    if to_warehouse:
        target = (sink if sink.kind == "warehouse" else error_sink).target
        tuple(to_warehouse) | "ToWarehouse" >> beam.Flatten() | "Load" >> load(target, config.schemas)
    return result["decoded"], errors


def one_process(options) -> bool:
    """Whether the pipeline's workers all run in this process (the DirectRunner in memory or on threads)."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    direct = options.view_as(DirectOptions)
    return runner in ("DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner") and (
        direct.direct_running_mode != "multi_processing" or direct.direct_num_workers == 1
    )
