"""The loader as a Beam sink: decoded lines / error pairs -> batches -> warehouse tables.

It runs inside the decoder's pipeline or on its own (`pingpipe load`). One loader and one
warehouse connection per worker process; each batch is written in one transaction.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import Metrics

from pingpipe.decoder.failures import failure
from pingpipe.gctune import tune_gc
from pingpipe.message import BadLine, RawMessage
from pingpipe.schemas.registry import Registry

from .load import LoadedBefore, Loader, drop_loaded, write_refusing
from .writers.bigquery import DEFAULTS as BIGQUERY_DEFAULTS
from .writers.bigquery import BigQueryConfig

_shared: dict[tuple, tuple] = {}
_runs: dict[str, LoadedBefore] = {}
_lock = threading.Lock()
NOT_RAW = "ParseRawMessage"  # the error type of a line that is not a raw message (decoder/pipeline.py's)


def open_warehouse(spec: str, registry: Registry | None = None, bigquery: BigQueryConfig = BIGQUERY_DEFAULTS):
    """`duckdb:PATH` or `bigquery:PROJECT` -> a writer (BigQuery reads partition expiry from the
    registry, and `bigquery` says where it makes datasets and puts what its error table refuses)."""
    kind, _, target = spec.partition(":")
    if kind == "duckdb" and target:
        from .writers.duckdb import DuckDBWriter

        return DuckDBWriter(target)
    if kind == "bigquery" and target:
        from .writers.bigquery import BigQueryWriter

        return BigQueryWriter(target, registry=registry, config=bigquery)
    raise ValueError(f"warehouse {spec!r}: expected duckdb:PATH or bigquery:PROJECT")


def shared_loader(warehouse: str, schemas: str | None, bigquery: BigQueryConfig = BIGQUERY_DEFAULTS):
    key = (warehouse, schemas, bigquery)
    with _lock:
        if key not in _shared:
            registry = Registry.load(schemas)
            _shared[key] = (Loader(registry), open_warehouse(warehouse, registry, bigquery))
        return _shared[key]


def loaded_before(run: str, writer) -> LoadedBefore | None:
    """One run's memory of what the warehouse held before it, shared by its bundles in a process.
    DuckDB only: a load run again skips what is there (on BigQuery, the stable tables dedupe)."""
    loaded = getattr(writer, "loaded", None)
    if loaded is None:
        return None
    with _lock:
        if run not in _runs:
            _runs[run] = LoadedBefore(loaded)
            while len(_runs) > 4:  # a process may run pipeline after pipeline: keep the latest runs' only
                _runs.pop(next(iter(_runs)))
        return _runs[run]


def as_pair(line: bytes) -> tuple[bytes, dict]:
    """A raw-message line (decoded or error: the decoder's outputs) as the loader takes it; a line that
    is not one (a CSV, a ping's bare JSON) is its error row, ParseRawMessage, as the decoder and `up` make it."""
    try:
        message = RawMessage.from_line(line)
    except BadLine as exc:
        message = failure(line, {}, exc, NOT_RAW)
    return message.data, message.attributes


def pairs(lines) -> tuple[list[tuple[bytes, dict]], int]:
    """The lines of a batch as pairs (blank lines skipped), and how many were not raw messages."""
    out = [as_pair(line) for line in lines if line.strip()]
    return out, sum(1 for _, attributes in out if attributes.get("error_type") == NOT_RAW)


class LoadBatch(beam.DoFn):
    def __init__(self, warehouse: str, schemas: str | None, run: str, bigquery: BigQueryConfig = BIGQUERY_DEFAULTS):
        self.warehouse = warehouse
        self.schemas = schemas
        self.run = run
        self.bigquery = bigquery

    def setup(self):
        self.loader, self.writer = shared_loader(self.warehouse, self.schemas, self.bigquery)
        self.before = loaded_before(self.run, self.writer)
        tune_gc()

    def process(self, elements):
        messages, not_raw = pairs(elements)
        batch = self.loader.batch(messages)
        batch.counts["not_raw"] += not_raw
        if self.before is not None:
            drop_loaded(batch, self.before)
        write_refusing(self.writer, batch)
        for name, value in batch.counts.items():
            Metrics.counter("loader", name).inc(value)
        yield dict(batch.counts)


def build_load(
    pipeline,
    sources: list,
    warehouse: str,
    schemas: str | Path | None = None,
    batch_size: int = 5000,
    bigquery: BigQueryConfig = BIGQUERY_DEFAULTS,
) -> None:
    """Wire `pingpipe load` into `pipeline`: every source's raw-message lines (decoder.io's
    parse_input) -> the warehouse's tables, errors into its error tables."""
    from pingpipe.decoder.io import ReadRaw

    streams = [pipeline | f"Read{i}" >> ReadRaw(source) for i, source in enumerate(sources)]
    streams | "All" >> beam.Flatten() | "Load" >> WriteToWarehouse(warehouse, schemas, batch_size, bigquery)


class WriteToWarehouse(beam.PTransform):
    def __init__(
        self, warehouse: str, schemas: str | Path | None = None, batch_size: int = 5000, bigquery: BigQueryConfig = BIGQUERY_DEFAULTS
    ):
        super().__init__()
        self.warehouse = warehouse
        self.bigquery = bigquery  # known where the job is launched, carried to the workers
        self.schemas = str(schemas) if schemas else None
        self.batch_size = batch_size
        self.run = uuid.uuid4().hex  # this pipeline's: what "before this run" means to drop_loaded

    def expand(self, messages):
        return (
            messages
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
            | "Load" >> beam.ParDo(LoadBatch(self.warehouse, self.schemas, self.run, self.bigquery))
        )
