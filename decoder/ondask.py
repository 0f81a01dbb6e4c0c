"""Batch decode on Beam's DaskRunner: the same decoding and dedupe, in the shapes that runner runs.

Beam's DaskRunner (2.77) translates only Create, ParDo, GroupByKey and Flatten: it has no Impulse,
so no ReadFromText; it merges a ParDo's tagged outputs into one collection; it computes only the
pipeline's last transform; and it reports no metrics. So, on it: the input files are split into
byte ranges, made with Create and read in a FlatMap; the decoder's outputs become (tag, line)
pairs, filtered per output; each output is written a file per bundle; and the writes end in one
Flatten, the last transform, so that every branch runs. The decoding and the dedupe are the
DoFn every batch runner uses (pipeline.DecodeBucket). Files only, batch only.
"""

from __future__ import annotations

import uuid
from operator import itemgetter
from typing import Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from .core import DecoderConfig
from .io import Endpoint, SpecError
from .pipeline import ERRORS, DecodeBucket, bucket_key

RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
MAX_RANGE = 64 * 1024 * 1024  # bytes read by one bundle at most
MIN_RANGE = 64 * 1024
RANGES = 8  # at least this many ranges, when the input is large enough: work for every worker


def is_dask(runner: str | None) -> bool:
    return runner in ("DaskRunner", RUNNER)


def byte_ranges(sizes: dict[str, int], parts: int = RANGES, min_range: int = MIN_RANGE) -> list[tuple[str, int, int]]:
    """(path, start, end) covering every file: about `parts` ranges in all, none over MAX_RANGE."""
    chunk = min(MAX_RANGE, max(min_range, -(-sum(sizes.values()) // parts)))
    return [(path, start, min(start + chunk, size)) for path, size in sizes.items() for start in range(0, size, chunk)]


def read_range(item: tuple[str, int, int]) -> Iterator[bytes]:
    """The lines that start in [start, end), without their line ending (as ReadFromText gives them)."""
    path, start, end = item
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        if start:
            f.seek(start - 1)
            f.readline()  # the line under way at `start` belongs to the range before
        while f.tell() < end:
            line = f.readline()
            if not line:
                break
            if line.endswith(b"\n"):
                line = line[:-1]
            yield line[:-1] if line.endswith(b"\r") else line


class Pairs(beam.DoFn):
    """A multi-output DoFn's outputs as (tag, value) pairs; its main output tagged `main`."""

    def __init__(self, fn: beam.DoFn, main: str):
        self.fn, self.main = fn, main

    def setup(self):
        self.fn.setup()

    def process(self, element):
        for out in self.fn.process(element):
            yield (out.tag, out.value) if isinstance(out, beam.pvalue.TaggedOutput) else (self.main, out)

    def finish_bundle(self):
        self.fn.finish_bundle()


class WriteBundle(beam.DoFn):
    """Each bundle's lines to a file of its own, `PREFIX-<random>.ndjson`, renamed into place when whole."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def start_bundle(self):
        self.lines: list[bytes] = []

    def process(self, line: bytes):
        self.lines.append(line)

    def finish_bundle(self):
        if not self.lines:
            return
        path = f"{self.prefix}-{uuid.uuid4().hex}.ndjson"
        with FileSystems.create(path + ".part", compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(b"\n".join(self.lines) + b"\n")
        FileSystems.rename([path + ".part"], [path])


def input_ranges(source: Endpoint) -> list[tuple[str, int, int]]:
    """The byte ranges of the files `source` matches (one bag partition each, by default)."""
    if source.kind != "file":
        raise SpecError("on the DaskRunner, --input is files (file:GLOB)")
    matched = FileSystems.match([source.target])[0].metadata_list
    if not matched:
        raise SpecError(f"--input {source.target}: no file matches")
    return byte_ranges({m.path: m.size_in_bytes for m in sorted(matched, key=lambda m: m.path)})


def build(pipeline, config: DecoderConfig, ranges: list[tuple[str, int, int]], outputs: dict[str, Endpoint]) -> None:
    """Wire the Dask-shaped decode of `ranges` into `pipeline`; `outputs` maps the decoder's output
    tags ("decoded", and ERRORS: "errors") to file endpoints."""
    if any(e.kind != "file" for e in outputs.values()):
        raise SpecError("on the DaskRunner, --output and --errors are files (file:PREFIX); load them with `pingpipe load`")
    pairs = (
        pipeline
        | "Ranges" >> beam.Create(ranges)
        | "Read" >> beam.FlatMap(read_range)
        | "KeyByBucket" >> beam.Map(bucket_key)
        | "GroupByBucket" >> beam.GroupByKey()
        | "Decode" >> beam.ParDo(Pairs(DecodeBucket(config), "decoded"))
    )
    assert set(outputs) == {"decoded", ERRORS}
    written = [
        pairs
        | f"Only{name}" >> beam.Filter(lambda pair, tag=name: pair[0] == tag)
        | f"Lines{name}" >> beam.Map(itemgetter(1))
        | f"Write{name}" >> beam.ParDo(WriteBundle(endpoint.target))
        for name, endpoint in outputs.items()
    ]
    tuple(written) | "End" >> beam.Flatten()  # the runner computes the last transform only: it depends on every write
