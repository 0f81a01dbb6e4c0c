"""`pingpipe up`: edge subprocess -> queue segments -> worker pool -> one committer, wired together.

    edge (own process, fsync'd group commit)  ->  DATA/queue/*.ndjson (sealed every ~0.25 s)
      -> worker processes: decode + coerce each segment (work.py)
      -> this process: deduplicate, commit rows + "segment done" in one DuckDB transaction,
         then delete the segment (commit.py); serve queries on the admin port (admin.py)

The pure decoder core runs in the workers, not Beam's DirectRunner: it does the same work with
far less CPU (benchmarks/bench_decoder.py), and the segment files already give the micro-batches.
Each job has its module: supervise.py keeps the edge and the workers running, schedule.py hands
segments out and commits their results (a failed one is retried while those behind it go on),
daily.py runs the daily cycle between commits, report.py says what is happening. `Up` starts
them in order, and stops them in reverse.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import threading
import time

from pingpipe import utc
from pingpipe.decoder.core import DecoderConfig
from pingpipe.decoder.steps.geo import GeoDatabaseError, check_database
from pingpipe.dictionary import catalog as dictionary
from pingpipe.dictionary import chartdata, figures
from pingpipe.dictionary.debug import DebugConfig, DebugStore
from pingpipe.dictionary.pages import Site
from pingpipe.dictionary.server import UIServer
from pingpipe.edge.config import ConfigError, check_tls_pair
from pingpipe.edge.publish.segments import recover
from pingpipe.etl import catalog
from pingpipe.etl.graph import order
from pingpipe.etl.queries import QueryError
from pingpipe.gctune import tune_gc
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.logs.ingest import Follower, IngestConfig
from pingpipe.privacy.shred import RulesError, load_rules
from pingpipe.private import private_folder
from pingpipe.reason import one_line
from pingpipe.schemas.registry import Registry

from . import report
from . import stats as accounting
from . import trace as tracing
from .admin import AdminServer
from .client import STATE_FILE, read_state
from .commit import Committer
from .config import UI_PORT, UpConfig, UpError
from .daily import DailyCycle
from .retry import Failures
from .schedule import Scheduler
from .supervise import Edge, Stop, Workers

PREWARM_AFTER = 10.0  # seconds after the start: `up` is serving by then, and a short run (a test's) reads nothing

__all__ = ["Up", "UpConfig", "UpError"]


class Up:
    def __init__(self, config: UpConfig, out=None):
        self.config = config
        self.out = out or sys.stdout
        self.stop = Stop(config.drain_timeout, self.out)
        self.quit = threading.Event()  # set as `up` closes: background readers stop
        self.edge = Edge(config, self.stop, self.out)
        self.failures = Failures(config.retry)
        self.reporter = report.Reporter(config, self.out)
        self.logs: Follower | None = None  # --logs: the folder of server logs followed into the queue
        self.scheduler: Scheduler | None = None

    @property
    def segments_decoded(self) -> int:
        """Results back from the workers (committed or waiting for their commit)."""
        return 0 if self.scheduler is None else self.scheduler.segments_decoded

    def _open(self) -> DuckDBWriter:
        """Everything that can fail on the user's input, checked before anything starts; the warehouse, open."""
        c = self.config
        try:  # a pair that cannot serve HTTPS is one line now, not the edge's traceback later
            check_tls_pair(c.tls_cert, c.tls_key)
        except ConfigError as exc:
            raise UpError(str(exc)) from None
        private_folder(c.data)  # raw payloads and addresses in its queue, the warehouse: the owner's alone
        c.queue.mkdir(parents=True, exist_ok=True)
        try:
            self.registry = Registry.load(c.schemas)  # fail fast, with the file named, before anything starts
        except Exception as exc:  # noqa: BLE001 - whatever the registry's fault, one line naming the file
            raise UpError(str(exc)) from None
        if c.geoip_db is not None:
            try:
                check_database(c.geoip_db)
            except GeoDatabaseError as exc:
                raise UpError(str(exc)) from None
        running = read_state(c.data)
        if running and running.get("pid") != os.getpid():
            raise UpError(
                f"pingpipe up is already running on {c.data} (PID {running['pid']}); one `up` per data folder (--data DIR for another)"
            )
        try:
            writer = DuckDBWriter(c.warehouse, threads=c.duckdb_threads, lock_wait=c.lock_wait)
        except Exception as exc:  # noqa: BLE001 - whatever stops the warehouse opening, one line
            raise UpError(f"cannot open the warehouse {c.warehouse}: {one_line(exc)}") from None
        # The edge's counts since this start: reset only once the warehouse is ours, never under
        # another `up` still running on this folder (its edge writes there).
        shutil.rmtree(c.edge_counts, ignore_errors=True)
        c.edge_counts.mkdir()
        return writer

    def run(self) -> int:
        c = self.config
        writer = self._open()
        committer = Committer(writer, dedupe_window=c.dedupe_window, max_log_tables=c.max_log_tables)
        committer.forget_done(c.queue)
        tune_gc()  # after loading the dedupe window: its ids are never scanned by the collector
        recover(c.queue)  # seal what a killed edge left open: those pings were acknowledged
        self.workers = Workers(c.workers, DecoderConfig(schemas=c.schemas, geoip_db=c.geoip_db), self.out)
        self.writer = writer
        try:
            rules = load_rules(c.user_ids)
            order(catalog.queries(self.registry, c.sql))  # a query that cannot run is said now, not at midnight
        except (RulesError, QueryError) as exc:
            writer.close()
            raise UpError(str(exc)) from None
        debug = DebugStore(DebugConfig(per_tag=c.debug_per_tag, max_bytes=c.debug_max_bytes, max_tags=c.debug_max_tags))
        self.daily = DailyCycle(c, writer, self.registry, rules, debug, self.out, committer)
        try:
            admin = AdminServer(
                writer,
                self._status_extra,
                c.admin_port,
                cycle=self.daily.run,
                rules=rules,
                etl=self.daily.etl,
                shred=self.daily.shred,
                replay=self.daily.replay,
                trace=lambda document_id: tracing.trace(writer.con, document_id, c.queue),
                stats=lambda day, by: accounting.stats(writer.con, day, c.queue, by),
            )
        except OSError as exc:
            writer.close()
            raise UpError(f"the admin port could not start on 127.0.0.1:{c.admin_port}: {exc.strerror}") from None
        self.committer = committer
        committer.debug = debug
        self.scheduler = Scheduler(
            c, self.failures, self.workers, committer, self.edge, self.stop, self.daily.due, self.daily.run, self._line, self.out
        )
        if c.metrics_port:
            self._serve_metrics(writer)
        ui = None
        try:
            ui = self._ui(writer, debug)
            self.edge.start()
            admin.start()
            ui.start()
            threading.Thread(target=self._prewarm, args=(ui.site, writer), name="charts-prewarm", daemon=True).start()
            if c.logs is not None:
                self.logs = Follower(c.logs, IngestConfig(c.queue, follow=True, offsets=c.logs_offsets, segment_max_age=c.segment_max_age))
                self.logs.start()
            state = {
                "pid": os.getpid(),
                "edge": c.edge_url,
                "admin_port": admin.port,
                "ui": ui.url,
                "ui_link": ui.link,
                "warehouse": str(c.warehouse),
                "queue": str(c.queue),
            }
            admin.write_state(c.data / STATE_FILE, state)  # adds the admin token; the owner's alone (0600)
            self.reporter.say(report.banner(c, admin.port, ui.url, ui.link))
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
            self.scheduler.run()
            code = 1 if self.edge.failed else 0
        finally:
            self.edge.kill()
            if self.logs is not None:
                self.logs.stop()
            (c.data / STATE_FILE).unlink(missing_ok=True)
            admin.close()
            self.quit.set()
            if ui is not None:
                ui.close()
            self.workers.shutdown()
            writer.close()
        self._line(final=True)
        return code

    def _serve_metrics(self, writer: DuckDBWriter) -> None:
        """Every stage's Prometheus series (metrics.py), the edge's with them, on --metrics-port."""
        from pingpipe.edge.metrics import serve

        from .metrics import UpMetrics

        c = self.config
        metrics = UpMetrics(c.queue, c.edge_counts)
        self.committer.metrics = self.scheduler.metrics = self.daily.metrics = metrics
        try:
            serve(c.metrics_port, c.host, metrics.registry)
        except OSError as exc:
            writer.close()
            raise UpError(f"the metrics could not be served on {c.host}:{c.metrics_port}: {exc.strerror}") from None

    def _ui(self, writer: DuckDBWriter, debug: DebugStore) -> UIServer:
        """The data dictionary and debug viewer, on 127.0.0.1: the --ui-port asked for, else UI_PORT if
        it is free, else any free port (the banner says which)."""
        c = self.config
        build = functools.partial(dictionary.for_registry, self.registry, c.sql)
        site = Site(
            build,
            figures=lambda tables: figures.read(writer.con, tables),
            debug=debug,
            errors=lambda: figures.read_errors(writer.con),
            trace=lambda document_id: tracing.trace(writer.con, document_id, c.queue),
            charts=chartdata.ChartQueries(chartdata.on_duckdb(writer.con), c.charts),
            chart_config=c.charts,
        )
        port = UI_PORT if c.ui_port is None else c.ui_port
        try:
            return UIServer(site, "127.0.0.1", port)
        except OSError as exc:
            if c.ui_port is not None:
                raise UpError(
                    f"the dictionary could not start on 127.0.0.1:{port}: {exc.strerror} (--ui-port 0 takes any free port)"
                ) from None
            return UIServer(site, "127.0.0.1", 0)

    def _prewarm(self, site: Site, writer: DuckDBWriter) -> None:
        """Once a UTC day, from PREWARM_AFTER seconds after the start: the metric pages of big tables
        read ahead (Site.prewarm), since a chart's days before today are then kept and a first
        open reads only today. Small warehouses need none: it reads nothing for them."""
        day = None
        while not self.quit.wait(PREWARM_AFTER if day is None else 60):
            if utc.today() == day:
                continue
            day = utc.today()
            try:
                started = time.monotonic()
                opened = site.prewarm(figures.table_sizes(writer.con), self.quit)
                if opened:
                    self.out.write(f"read {opened} metric page(s) ahead in {time.monotonic() - started:.1f} s\n")
                    self.out.flush()
            except Exception as exc:  # noqa: BLE001 - read ahead or not, the pages still answer
                self.out.write(f"reading the metric charts ahead failed: {one_line(exc)}\n")

    def _on_signal(self, signum, frame) -> None:
        if self.stop.stopping:  # a second Ctrl-C: stop now (committed work is safe, the rest is re-read next time)
            raise KeyboardInterrupt
        self.stop.begin(
            f"\nstopping: the edge finishes its requests, then the queue is drained for up to "
            f"{self.config.drain_timeout:g} s (Ctrl-C again to stop now)"
        )
        self.edge.terminate()
        if self.logs is not None:
            self.logs.stop()  # what the files hold now is queued, then drained with the rest

    def _status_extra(self) -> dict:
        return report.status(
            self.config,
            worker_restarts=self.workers.restarts,
            segments_decoded=self.segments_decoded,
            last_cycle=self.daily.last,
            totals=self.committer.totals,
            logs=self.logs,
        )

    def _line(self, final: bool = False) -> None:
        self.reporter.logs(self.logs)
        c = self.config
        self.reporter.line(report.status_line(report.accepted(c.edge_counts), self.committer.totals, report.queue_lag(c.queue)), final)
