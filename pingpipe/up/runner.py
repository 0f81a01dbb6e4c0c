"""`pingpipe up`'s supervisor: edge subprocess -> queue segments -> worker pool -> one committer.

    edge (own process, fsync'd group commit)  ->  DATA/queue/*.ndjson (sealed every ~0.25 s)
      -> worker processes: decode + coerce each segment (work.py)
      -> this process: deduplicate, commit rows + "segment done" in one DuckDB transaction,
         then delete the segment (commit.py); serve queries on the admin port (admin.py)

The pure decoder core runs in the workers, not Beam's DirectRunner: it does the same work with
far less CPU (benchmarks/bench_decoder.py), and the segment files already give the micro-batches.
Results are committed in the order the segments were written.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import ctypes
import functools
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pingpipe import utc
from pingpipe.decoder.core import DecoderConfig
from pingpipe.decoder.steps.geo import GeoDatabaseError, check_database
from pingpipe.dictionary import catalog as dictionary
from pingpipe.dictionary import figures
from pingpipe.dictionary.debug import DebugConfig, DebugStore
from pingpipe.dictionary.pages import Site
from pingpipe.dictionary.server import UIServer
from pingpipe.edge.config import CONFIG_ENV, ConfigError, EdgeConfig, check_tls_pair, config_to_json
from pingpipe.edge.metrics import METRICS_DIR_ENV, answers
from pingpipe.edge.publish.segments import recover, sealed_segments
from pingpipe.etl import catalog
from pingpipe.etl.graph import order
from pingpipe.etl.queries import QueryError
from pingpipe.gctune import tune_gc
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.logs.ingest import Follower, IngestConfig
from pingpipe.privacy.shred import RulesError, load_rules
from pingpipe.private import private_folder
from pingpipe.schemas.registry import Registry

from . import cycle, warehouse
from .admin import STATE_FILE, AdminServer, read_state
from .commit import Committer
from .config import UI_PORT, UpConfig
from .retry import Failures, environmental
from .work import SegmentFailed, SegmentResult, WorkerCrashed, error_result, init_worker, process_segments

MAX_READY = 4  # results waiting for the commit thread (each a group of segments, up to batch_bytes of pings)
EDGE_RESTARTS = 3  # edge exits within a minute that `up` restarts it after; one more and it stops


class UpError(Exception):
    """A start-up problem the user can fix (port taken, bad schemas, warehouse locked)."""


def _any_certificate():
    """Our own edge's heartbeat, over HTTPS when it has a certificate (a test's or a laptop's own)."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def one_line_error(exc: BaseException) -> str:
    """DuckDB's and others' messages, on their first line (DuckDB adds hints below)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in a child process
    """Linux: a child gets SIGKILL when `up` dies, even by kill -9 (no orphan keeps the port or
    waits for work forever). A parent that died before the request leaves us adopted: exit now."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent:
        os._exit(1)


def _quiet_worker(config: DecoderConfig, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it drains
    _die_with_parent(parent)
    init_worker(config)


class Up:
    def __init__(self, config: UpConfig, out=None):
        self.config = config
        self.out = out or sys.stdout
        self.stopping = False
        self.edge: subprocess.Popen | None = None
        self.started = time.time()
        self.worker_restarts = 0
        self.segments_decoded = 0  # results back from the workers (committed or waiting for their commit)
        self._printed = 0.0
        self.edge_failed = False
        self.edge_exits: list[float] = []  # when the edge exited unexpectedly (the last minute's)
        self.stop_deadline = float("inf")
        self.failures = Failures(config.retry)
        self.last_cycle: dict | None = None  # the daily cycle's last report
        self.logs: Follower | None = None  # --logs: the folder of server logs followed into the queue
        self._skips_said: set[str] = set()  # reasons the follower skipped lines for, said once each
        self._cycle_checked = 0.0

    # -- start-up --------------------------------------------------------------------------

    def _start_edge(self) -> None:
        c = self.config
        with socket.socket() as probe:  # a clear message now, rather than another server's heartbeat later
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
            try:
                probe.bind((c.host, c.port))
            except OSError as exc:
                raise UpError(f"the edge could not start on {c.host}:{c.port}: {exc.strerror}") from None
        try:
            edge = EdgeConfig(
                host=c.host,
                port=c.port,
                queue_dir=c.queue,
                segment_max_age=c.segment_max_age,
                min_free_bytes=c.min_free_bytes,
                max_body_bytes=c.max_body_bytes,
                metrics_port=c.metrics_port,
                tls_cert=c.tls_cert,
                tls_key=c.tls_key,
                cors_origins=c.cors_origins,
            ).check()
        except ConfigError as exc:
            raise UpError(str(exc)) from None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGPIPE_EDGE_")}  # its config is ours alone
        env.update({CONFIG_ENV: config_to_json(edge), METRICS_DIR_ENV: str(c.edge_counts)})
        self.edge = subprocess.Popen(
            [sys.executable, "-m", "pingpipe.edge.server"],
            env=env,
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
            process_group=0,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.edge.poll() is not None:
                raise UpError(f"the edge could not start on {c.host}:{c.port} (exit {self.edge.returncode}; see above)")
            try:
                with urllib.request.urlopen(f"{c.edge_url}/__lbheartbeat__", timeout=1, context=_any_certificate()) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise UpError(f"the edge did not answer on {c.host}:{c.port} within 30 s")

    def accepted(self) -> int:
        """Submissions the edge accepted (200) since `up` started, restarted edges included (their
        counts, written every second and on exit, are in DATA/edge)."""
        return answers(self.config.edge_counts).get(200, 0)

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        c = self.config
        try:  # before anything starts: a pair that cannot serve HTTPS is one line now, not the edge's traceback later
            check_tls_pair(c.tls_cert, c.tls_key)
        except ConfigError as exc:
            raise UpError(str(exc)) from None
        private_folder(c.data)  # raw payloads and addresses in its queue, the warehouse: the owner's alone
        c.queue.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(c.edge_counts, ignore_errors=True)  # counts since this start
        c.edge_counts.mkdir()
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
            raise UpError(f"cannot open the warehouse {c.warehouse}: {one_line_error(exc)}") from None
        committer = Committer(writer, dedupe_window=c.dedupe_window, max_log_tables=c.max_log_tables)
        committer.forget_done(c.queue)
        tune_gc()  # after loading the dedupe window: its ids are never scanned by the collector
        recover(c.queue)  # seal what a killed edge left open: those pings were acknowledged
        self.decoder_config = DecoderConfig(schemas=c.schemas, geoip_db=c.geoip_db)
        self.pool = self._new_pool()
        self.writer = writer
        try:
            self.rules = load_rules(c.user_ids)
            order(catalog.queries(self.registry, c.sql))  # a query that cannot run is said now, not at midnight
        except (RulesError, QueryError) as exc:
            writer.close()
            raise UpError(str(exc)) from None
        try:
            admin = AdminServer(
                writer, self._status_extra, c.admin_port, cycle=self._cycle, rules=self.rules, etl=self._etl, shred=self._shred
            )
        except OSError as exc:
            writer.close()
            raise UpError(f"the admin port could not start on 127.0.0.1:{c.admin_port}: {exc.strerror}") from None
        self.committer = committer
        committer.debug = DebugStore(DebugConfig(per_tag=c.debug_per_tag, max_bytes=c.debug_max_bytes, max_tags=c.debug_max_tags))
        ui = None
        try:
            ui = self._ui(writer, committer.debug)
            self._start_edge()
            admin.start()
            ui.start()
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
            self._banner(admin.port, ui)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
            self._loop(committer)
            code = 1 if self.edge_failed else 0
        finally:
            if self.edge is not None and self.edge.poll() is None:
                self.edge.kill()
            if self.logs is not None:
                self.logs.stop()
            (c.data / STATE_FILE).unlink(missing_ok=True)
            admin.close()
            if ui is not None:
                ui.close()
            self.pool.shutdown(wait=True, cancel_futures=True)
            writer.close()
        self._line(final=True)
        return code

    def _ui(self, writer: DuckDBWriter, debug: DebugStore) -> UIServer:
        """The data dictionary and debug viewer, on 127.0.0.1: the --ui-port asked for, else UI_PORT if
        it is free, else any free port (the banner says which)."""
        c = self.config
        site = Site(dictionary.for_registry(self.registry, c.sql), figures=lambda tables: figures.read(writer.con, tables), debug=debug)
        port = UI_PORT if c.ui_port is None else c.ui_port
        try:
            return UIServer(site, "127.0.0.1", port)
        except OSError as exc:
            if c.ui_port is not None:
                raise UpError(
                    f"the dictionary could not start on 127.0.0.1:{port}: {exc.strerror} (--ui-port 0 takes any free port)"
                ) from None
            return UIServer(site, "127.0.0.1", 0)

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            self.config.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_quiet_worker,
            initargs=(self.decoder_config, os.getpid()),
        )

    def _restart_workers(self, running: collections.deque, claimed: set[str]) -> None:
        """A worker died (the OOM killer, a crash in a C library): the pool and every result still at the
        workers are gone, the segments are not. Start a fresh pool; the segments are handed out again."""
        lost = [p.name for _, group in running for p in group]
        print(f"a worker process died; restarting the workers ({len(lost)} segment(s) are processed again)", file=self.out, flush=True)
        claimed.difference_update(lost)
        running.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        self.worker_restarts += 1

    def _on_signal(self, signum, frame) -> None:
        if self.stopping:  # a second Ctrl-C: stop now (committed work is safe, the rest is re-read next time)
            raise KeyboardInterrupt
        self._stop(
            f"\nstopping: the edge finishes its requests, then the queue is drained for up to "
            f"{self.config.drain_timeout:g} s (Ctrl-C again to stop now)"
        )
        if self.edge is not None and self.edge.poll() is None:
            self.edge.send_signal(signal.SIGTERM)
        if self.logs is not None:
            self.logs.stop()  # what the files hold now is queued, then drained with the rest

    def _stop(self, message: str) -> None:
        self.stopping = True
        self.stop_deadline = time.monotonic() + self.config.drain_timeout
        print(message, file=self.out, flush=True)

    def _edge_exited(self) -> None:
        """Restart an edge that exited, as the workers are; one that keeps exiting stops `up` (exit 1)."""
        now = time.monotonic()
        self.edge_exits = [t for t in self.edge_exits if now - t < 60] + [now]
        code = self.edge.returncode
        if len(self.edge_exits) > EDGE_RESTARTS:
            self.edge_failed = True
            self._stop(f"the edge exited (code {code}) {len(self.edge_exits)} times within a minute; draining and stopping")
            return
        print(f"the edge exited unexpectedly (code {code}); restarting it", file=self.out, flush=True)
        try:
            self._start_edge()
        except UpError as exc:
            self.edge_failed = True
            self._stop(f"{exc}; draining and stopping")

    def _next_group(self, claimed: set[str], now: float) -> list[Path]:
        """The next segments to hand out together: up to batch_bytes of them, oldest first, those that
        are due. One that failed before goes alone; while stopping, it stays queued for the next start."""
        failures, stopping = self.failures, self.stopping
        group, size = [], 0
        for path in sealed_segments(self.config.queue):
            name = path.name
            if name in claimed or not failures.due(name, now) or (stopping and failures.suspect(name)):
                continue
            if failures.suspect(name):
                if group:
                    break
                return [path]
            try:
                bytes_ = path.stat().st_size
            except FileNotFoundError:
                continue
            if group and size + bytes_ > self.config.batch_bytes:
                break
            group.append(path)
            size += bytes_
        return group

    def _given_up(self, path: Path) -> SegmentResult:
        exc = self.failures.given_up[path.name]
        attempts = self.config.retry.attempts
        if isinstance(exc, WorkerCrashed):
            error, error_type = WorkerCrashed(f"processing segment {path.name} killed a worker process {attempts} times"), "WorkerCrashed"
        else:
            error, error_type = SegmentFailed(f"segment {path.name} failed {attempts} times on its own: {exc!r}"), "Load"
        print(f"{error}: its messages go to the error table as {error_type}", file=self.out, flush=True)
        return error_result([str(path)], error, error_type)

    def _failed(self, stage: str, group: list[Path], exc: BaseException, now: float) -> None:
        names = [p.name for p in group]
        self.failures.failed(names, exc, now)
        kind = "the environment's" if environmental(exc) else "retried alone" if len(names) > 1 else "retried"
        delay = max(0.0, self.failures.not_before[names[0]] - now)
        print(f"{stage} {names} failed ({kind}, in {delay:.0f} s; the segments behind go on): {exc!r}", file=self.out, flush=True)

    def _loop(self, committer: Committer) -> None:
        """Hand segments to the workers, and their results, in order, to the commit thread.

        Commits run on their own thread (DuckDB works without the GIL), so the workers keep
        decoding while DuckDB commits, and through its checkpoints, which take seconds: done in
        this loop, they left the workers idle and the backlog growing (benchmarks/bench_up.py).
        A segment that fails is tried again later (retry.py); the others do not wait for it.
        """
        c = self.config
        failures = self.failures
        running: collections.deque[tuple[cf.Future, list[Path]]] = collections.deque()  # at the workers, in order
        ready: collections.deque[tuple[SegmentResult, list[Path]]] = collections.deque()  # waiting for their commit
        committing: tuple[cf.Future, list[Path]] | None = None
        claimed: set[str] = set()  # segments running, ready or committing
        last_line = 0.0
        last_recover = time.monotonic()
        with cf.ThreadPoolExecutor(1, thread_name_prefix="commit") as commits:
            while True:
                now = time.monotonic()
                if self.edge.poll() is not None and not self.stopping:
                    self._edge_exited()
                out_of_time = self.stopping and now >= self.stop_deadline
                if out_of_time and self.edge.poll() is None:
                    self.edge.kill()  # it did not finish its requests in time: unanswered ones were not acknowledged
                # Hand out segments: keep every worker busy plus one group queued, while few results wait.
                if not out_of_time and len(running) <= c.workers and len(ready) < MAX_READY:
                    group = self._next_group(claimed, now)
                    if group and group[0].name in failures.given_up:
                        claimed.add(group[0].name)
                        ready.append((self._given_up(group[0]), group))
                        continue
                    if group:
                        try:
                            future = self.pool.submit(process_segments, [str(p) for p in group])
                        except cf.process.BrokenProcessPool:  # a worker died since the last result
                            self._restart_workers(running, claimed)
                            continue
                        claimed.update(p.name for p in group)
                        running.append((future, group))
                        continue
                # Results, in order.
                while running and running[0][0].done():
                    future, group = running.popleft()
                    try:
                        ready.append((future.result(), group))
                        self.segments_decoded += len(group)
                    except cf.process.BrokenProcessPool:
                        claimed.difference_update(p.name for p in group)
                        failures.failed([p.name for p in group], WorkerCrashed("a worker process died"), now)
                        self._restart_workers(running, claimed)
                    except Exception as exc:  # noqa: BLE001 - processing raised: the segments stay, and are tried again
                        claimed.difference_update(p.name for p in group)
                        self._failed("processing", group, exc, now)
                    del future  # its result is held by `ready` alone, not kept by this loop once committed
                # Commits, one at a time.
                if committing is not None and committing[0].done():
                    future, group = committing
                    committing = None
                    try:
                        future.result()
                        failures.done([p.name for p in group])
                    except Exception as exc:  # noqa: BLE001 - a commit that failed: the segments stay, and are tried again
                        if group:
                            self._failed("committing", group, exc, now)
                        else:  # the daily cycle: tried again at the next check
                            print(f"the daily cycle failed, will retry: {exc!r}", file=self.out, flush=True)
                    claimed.difference_update(p.name for p in group)
                if committing is None and not ready and self._cycle_due(now):  # between commits: the writer is free
                    committing = (commits.submit(self._cycle, self._cycle_day), [])
                if committing is None and ready:
                    result, group = ready.popleft()
                    committing = (commits.submit(committer.commit, result, group), group)
                    del result  # a result (decoded pings, debug entries) can be hundreds of MB: not kept while idle
                waiting = [f for f in (running[0][0] if running else None, committing[0] if committing else None) if f]
                if waiting:
                    cf.wait(waiting, timeout=c.poll, return_when=cf.FIRST_COMPLETED)
                elif self.stopping and self.edge.poll() is not None:  # nothing at the workers, ready or committing
                    if out_of_time or not self._next_group(claimed, now):
                        recover(c.queue)  # the edge sealed its segment on exit; this catches a killed one
                        if out_of_time or not self._next_group(claimed, now):
                            left = len(sealed_segments(c.queue))
                            if left:
                                print(f"{left} segment(s) stay queued for the next start", file=self.out, flush=True)
                            return
                    time.sleep(c.poll)
                else:
                    time.sleep(c.poll)
                now = time.monotonic()
                if now - last_recover >= 2.0:  # a writer that died after start-up (or was not yet reaped then)
                    last_recover = now
                    recover(c.queue)
                if now - last_line >= 1.0:
                    last_line = now
                    self._line()

    def _cycle_due(self, now: float) -> bool:
        """Whether yesterday's cycle (dedupe, shred, expire) should run now; checked once a minute."""
        if not self.config.daily_cycle or self.stopping or now - self._cycle_checked < 60:
            return False
        self._cycle_checked = now
        self._cycle_day = cycle.due(self.writer, utc.today())
        return self._cycle_day is not None

    def _cycle(self, day) -> dict:
        """The daily cycle for `day` (cycle.py), between commits: on the commit thread, or from the admin port."""
        report = cycle.run_cycle(
            self.writer, self.registry, day, error_retention_days=self.config.error_retention_days, rules=self.rules, sql=self.config.sql
        )
        self._forget_shredded()
        self.last_cycle = report
        print(
            f"daily cycle for {day}: stable {sum(report['stable'].values())} row(s), shredded "
            f"{sum(report['shredded'].values())}, expired {sum(report['expired'].values())}, "
            f"derived tables {len(report['etl']['ran'])} ({len(report['etl']['failed'])} failed)",
            file=self.out,
            flush=True,
        )
        for message in report["etl"]["failed"].values():
            print(f"  etl: {message}", file=self.out, flush=True)
        return report

    def _shred(self, dry_run: bool, rules: list) -> dict:
        """`pingpipe shred` through the admin port: as the cycle shreds, and the debug viewer forgets them."""
        result = cycle.shred_warehouse(self.writer, dry_run=dry_run, rules=rules)
        if not dry_run:
            self._forget_shredded()
        return result

    def _forget_shredded(self) -> None:
        """The debug viewer keeps no ping of a client whose deletion was processed."""
        if self.committer.debug is not None:
            self.committer.debug.forget(cycle.shredded_ids(self.writer))

    def _etl(self, day, only: set[str] | None, sql: str | None) -> dict:
        """`pingpipe etl run` through the admin port: the caller's queries (a folder), or up's own."""
        return cycle.run_etl(self.writer, self.registry, day, sql=Path(sql) if sql else self.config.sql, only=only).as_dict()

    # -- reporting -------------------------------------------------------------------------

    def _lag(self) -> float:
        """Seconds since the oldest uncommitted segment was started (0 when all is committed)."""
        segments = sealed_segments(self.config.queue)
        if not segments:
            return 0.0
        return max(0.0, time.time() - int(segments[0].name.split("-", 1)[0]) / 1e9)

    def _status_extra(self) -> dict:
        return {
            "backlog": warehouse.backlog(self.config.queue),
            "lag_seconds": round(self._lag(), 3),
            "accepted_since_start": self.accepted(),
            "pid": os.getpid(),
            "worker_restarts": self.worker_restarts,
            "segments_decoded_since_start": self.segments_decoded,
            "last_cycle": self.last_cycle,
            "since_start": dict(self.committer.totals),
            "logs": self._logs_status(),
        }

    def _logs_status(self) -> dict | None:
        """--logs: lines queued and lines skipped (by reason) since the start; counted on the follower's thread."""
        if self.logs is None:
            return None
        totals = self.logs.totals
        return {"folder": str(self.config.logs), "queued": totals.queued, "skipped": dict(totals.skipped)}

    def _banner(self, admin_port: int, ui: UIServer) -> None:
        c = self.config
        print(
            f"pingpipe up\n"
            f"  POST pings to  {c.edge_url}/submit/<namespace>/<doctype>/<version>/<document id>\n"
            f'  warehouse      {c.warehouse}   (pingpipe query --data {c.data} "SQL")\n'
            f"  queue          {c.queue}\n"
            f"  schemas        {c.schemas or 'shipped with pingpipe (incl. the demo Glean app pingpipe-demo)'}\n"
            f"  admin          http://127.0.0.1:{admin_port}  (pingpipe status --data {c.data})\n"
            f"  dictionary     {ui.link}   (open this link: it lets your browser in; pings tagged "
            f"X-Debug-ID: {ui.url}debug/)\n"
            f"  metrics        {f'http://{c.host}:{c.metrics_port}/metrics' if c.metrics_port else 'not served (--metrics-port PORT)'}\n"
            + (f"  logs           {c.logs}: Glean server events in its files, followed\n" if c.logs else "")
            + "Ctrl-C drains the queue and stops.",
            file=self.out,
            flush=True,
        )

    def _line(self, final: bool = False) -> None:
        if self.logs is not None and self.logs.error is not None:  # said once; the pings go on loading
            print(f"following {self.config.logs} stopped: {self.logs.error!r}", file=self.out, flush=True)
            self.logs.error = None
        if self.logs is not None:  # lines it does not queue (another mozlog Type): said once per reason
            skipped = dict(self.logs.totals.skipped)
            for reason in sorted(skipped.keys() - self._skips_said):
                print(f"following {self.config.logs}: skipping lines: {reason} (`pingpipe status` counts them)", file=self.out, flush=True)
            self._skips_said.update(skipped)
        t = self.committer.totals
        text = (
            f"edge accepted {self.accepted()} · loaded {t['rows']} · errors {t['errors']} · "
            f"duplicates {t['duplicates']} · lag {self._lag():.1f} s"
        )
        if final:
            print(f"stopped: {text}", file=self.out, flush=True)
        elif getattr(self.out, "isatty", lambda: False)():
            print("\r" + text + " " * 8, end="", file=self.out, flush=True)
        elif time.monotonic() - self._printed >= 5.0:  # not a terminal: a line every 5 s is enough
            self._printed = time.monotonic()
            print(text, file=self.out, flush=True)
