"""`pingpipe up`'s configuration: one object, whose defaults the command line reads (kept light to import)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pingpipe.decoder.dedupe import DedupeConfig
from pingpipe.dictionary.charts import ChartConfig
from pingpipe.dictionary.debug import DebugConfig
from pingpipe.edge.config import EdgeConfig
from pingpipe.loader.writers.locks import LOCK_WAIT
from pingpipe.logs.records import MAX_TABLES as MAX_LOG_TABLES
from pingpipe.privacy.expire import ERROR_RETENTION_DAYS

MIB = 1024 * 1024
UI_PORT = 8081  # the dictionary and debug viewer, when free (else any free port, said in the banner)
DATA = Path("pingpipe-data")  # the data folder every command uses unless told (--data, PINGPIPE_DATA)


class UpError(Exception):
    """A start-up problem the user can fix (port taken, bad schemas, warehouse locked)."""


def warehouse_of(data: Path) -> Path:
    """DATA's DuckDB warehouse: the file `up` writes, and every command on DATA opens."""
    return data / "warehouse.duckdb"


@dataclass(frozen=True)
class RetryConfig:
    attempts: int = 3  # failures of a segment alone, on its data, before its messages become error rows
    first_delay: float = 1.0  # seconds before the first retry; doubled at each failure
    max_delay: float = 60.0


def default_workers() -> int:
    """One per core but one, and at least two: the edge mostly waits on fsync, so on 2 cores two
    workers commit more than one does (benchmarks/bench_up.py --workers)."""
    return max(2, (os.cpu_count() or 2) - 1)


@dataclass
class UpConfig:
    data: Path = DATA  # the queue and the warehouse: DATA/queue, DATA/warehouse.duckdb
    schemas: Path | None = None
    host: str = EdgeConfig.host
    port: int = EdgeConfig.port
    admin_port: int = 0
    metrics_port: int | None = None  # every stage's Prometheus metrics, the edge's included (None: not served)
    tls_cert: Path | None = None  # the edge serves HTTPS (web pages' Glean.js requires it)
    tls_key: Path | None = None
    cors_origins: tuple[str, ...] = EdgeConfig.cors_origins
    ui_port: int | None = None  # None: UI_PORT, or any free port if it is taken; 0: any free port
    charts: ChartConfig = field(default_factory=ChartConfig)  # the dictionary's metric charts: spans, least clients, cache
    debug_per_tag: int = DebugConfig.per_tag  # debug pings kept per X-Debug-ID tag (in memory, at most a day)
    debug_max_bytes: int = DebugConfig.max_bytes  # ... and in all: the debug viewer's memory
    debug_max_tags: int = DebugConfig.max_tags
    workers: int = field(default_factory=lambda: default_workers())
    geoip_db: Path | None = None
    segment_max_age: float = 0.25  # sealed sooner than a lone edge's: the workers see pings within a quarter second
    batch_bytes: int = 16 * MIB
    dedupe_window: float = DedupeConfig.window
    min_free_bytes: int = EdgeConfig.min_free_bytes
    max_body_bytes: int = EdgeConfig.max_body_bytes
    poll: float = 0.02
    drain_timeout: float = 30.0  # after Ctrl-C: what is not committed by then stays queued for the next start
    lock_wait: float = LOCK_WAIT  # seconds the warehouse is waited for while another process holds it (a `status`)
    # One DuckDB thread: the worker processes already take every core but one, and two threads
    # insert the same rows with more CPU in all (benchmarks/bench_loader.py).
    duckdb_threads: int = 1
    error_retention_days: int = ERROR_RETENTION_DAYS  # error rows (raw payloads) are deleted after this many days
    daily_cycle: bool = True  # dedupe, shred and expire once per completed UTC day (cycle.py)
    user_ids: Path | None = None  # more user-id rules for shredding, before privacy/user_ids.yaml's
    logs: Path | None = None  # a folder of server logs (Glean server events) followed into the queue
    max_log_tables: int = MAX_LOG_TABLES  # tables one service's mozlog Types may make (logs/records.py)
    sql: Path | None = None  # the user's queries (bigquery-etl layout), run by the daily cycle with the generated ones
    retry: RetryConfig = field(default_factory=RetryConfig)

    @property
    def queue(self) -> Path:
        return self.data / "queue"

    @property
    def warehouse(self) -> Path:
        return warehouse_of(self.data)

    @property
    def edge_url(self) -> str:
        return f"{'https' if self.tls_cert else 'http'}://{self.host}:{self.port}"

    @property
    def logs_offsets(self) -> Path:
        return self.data / "logs-offsets.json"

    @property
    def edge_counts(self) -> Path:
        return self.data / "edge"
