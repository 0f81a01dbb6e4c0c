"""`pingpipe up`'s supervisor: edge subprocess -> queue segments -> worker pool -> one committer.

    edge (own process, fsync'd group commit)  ->  DATA/queue/*.ndjson (sealed every ~0.25 s)
      -> worker processes: decode + coerce each segment (work.py)
      -> this process: deduplicate, commit rows + "segment done" in one DuckDB transaction,
         then delete the segment (commit.py); serve queries on the admin port (admin.py)

The pure decoder core runs in the workers, not Beam's DirectRunner: on this machine it does the
same work at 2.4x less CPU (benchmarks/bench_decoder.py), and the segment files already give
the micro-batches. Results are committed in the order the segments were written.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pingpipe.decoder.core import DecoderConfig
from pingpipe.edge.publish.segments import recover, sealed_segments
from pingpipe.gctune import tune_gc
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.schemas.registry import Registry

from . import warehouse
from .admin import STATE_FILE, AdminServer
from .commit import Committer
from .work import SegmentResult, crashed_result, init_worker, process_segments

MIB = 1024 * 1024
MAX_READY = 4  # results waiting for the commit thread (each a group of segments, up to batch_bytes of pings)


class UpError(Exception):
    """A start-up problem the user can fix (port taken, bad schemas, warehouse locked)."""


@dataclass
class UpConfig:
    data: Path
    schemas: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_port: int = 0
    workers: int = field(default_factory=lambda: default_workers())
    geoip_db: Path | None = None
    segment_max_age: float = 0.25
    batch_bytes: int = 16 * MIB
    dedupe_window: float = 24 * 3600.0
    min_free_bytes: int = 100 * MIB
    max_body_bytes: int = MIB
    poll: float = 0.02

    @property
    def queue(self) -> Path:
        return self.data / "queue"

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse.duckdb"


def default_workers() -> int:
    """One per core but one, and at least two: the edge mostly waits on fsync, so on 2 cores two
    workers commit ~4.1K pings/s against ~3.3K with one (benchmarks/bench_up.py)."""
    return max(2, (os.cpu_count() or 2) - 1)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the edge gets SIGKILL when `up` dies, even by kill -9 (no orphan keeps the port)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _quiet_worker(config: DecoderConfig) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it drains
    _die_with_parent()
    init_worker(config)


class Up:
    def __init__(self, config: UpConfig, out=None):
        self.config = config
        self.out = out or sys.stdout
        self.stopping = False
        self.edge: subprocess.Popen | None = None
        self.metrics_port = 0
        self.started = time.time()
        self.worker_restarts = 0
        self.segments_decoded = 0  # results back from the workers (committed or waiting for their commit)
        self._printed = 0.0
        self.edge_failed = False
        self._accepted: int | None = None

    # -- start-up --------------------------------------------------------------------------

    def _start_edge(self) -> None:
        c = self.config
        with socket.socket() as probe:  # a clear message now, rather than another server's heartbeat later
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
            try:
                probe.bind((c.host, c.port))
            except OSError as exc:
                raise UpError(f"the edge could not start on {c.host}:{c.port}: {exc.strerror}") from None
        self.metrics_port = _free_port(c.host)
        cmd = [sys.executable, "-m", "pingpipe.cli", "edge", "--host", c.host, "--port", str(c.port), "--queue", str(c.queue),
               "--segment-max-age", str(c.segment_max_age), "--metrics-port", str(self.metrics_port),
               "--min-free-bytes", str(c.min_free_bytes), "--max-body-bytes", str(c.max_body_bytes)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGPIPE_EDGE_")}
        self.edge = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent, process_group=0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.edge.poll() is not None:
                raise UpError(f"the edge could not start on {c.host}:{c.port} (exit {self.edge.returncode}; see above)")
            try:
                with urllib.request.urlopen(f"http://{c.host}:{c.port}/__lbheartbeat__", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise UpError(f"the edge did not answer on {c.host}:{c.port} within 30 s")

    def accepted(self) -> int | None:
        """200s the edge answered since it started (from its Prometheus metrics)."""
        try:
            with urllib.request.urlopen(f"http://{self.config.host}:{self.metrics_port}/metrics", timeout=1) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith('pingpipe_edge_requests_total{code="200"}'):
                        return int(float(line.rsplit(" ", 1)[1]))
            return 0
        except OSError:
            return None

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        c = self.config
        c.data.mkdir(parents=True, exist_ok=True)
        c.queue.mkdir(parents=True, exist_ok=True)
        try:
            Registry.load(c.schemas)  # fail fast, with the file named, before anything starts
        except Exception as exc:
            raise UpError(str(exc)) from None
        try:
            writer = DuckDBWriter(c.warehouse)
        except Exception as exc:
            raise UpError(f"cannot open the warehouse {c.warehouse}: {exc}") from None
        committer = Committer(writer, dedupe_window=c.dedupe_window)
        committer.forget_done(c.queue)
        tune_gc()  # after loading the dedupe window: its ids are never scanned by the collector
        recover(c.queue)  # seal what a killed edge left open: those pings were acknowledged
        self.decoder_config = DecoderConfig(schemas=c.schemas, geoip_db=c.geoip_db)
        self.pool = self._new_pool()
        admin = AdminServer(writer, self._status_extra, c.admin_port)
        self.committer = committer
        try:
            self._start_edge()
            admin.start()
            state = {"pid": os.getpid(), "edge": f"http://{c.host}:{c.port}", "admin_port": admin.port,
                     "warehouse": str(c.warehouse), "queue": str(c.queue)}
            (c.data / STATE_FILE).write_bytes(orjson.dumps(state))
            self._banner(admin.port)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
            self._loop(committer)
            code = 1 if self.edge_failed else 0
        finally:
            if self.edge is not None and self.edge.poll() is None:
                self.edge.kill()
            (c.data / STATE_FILE).unlink(missing_ok=True)
            admin.close()
            self.pool.shutdown(wait=True, cancel_futures=True)
            writer.close()
        self._line(final=True)
        return code

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self.config.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_quiet_worker, initargs=(self.decoder_config,))

    def _restart_workers(self, running: collections.deque, claimed: set[str]) -> None:
        """A worker died (the OOM killer, a crash in a C library): the pool and every result still at the
        workers are gone, the segments are not. Start a fresh pool; the segments are handed out again."""
        lost = [p.name for _, group in running for p in group]
        print(f"a worker process died; restarting the workers ({len(lost)} segment(s) are processed again)",
              file=self.out, flush=True)
        claimed.difference_update(lost)
        running.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        self.worker_restarts += 1

    def _give_up_on(self, group: list[Path]) -> tuple[SegmentResult, list[Path]]:
        """Segments that killed a worker three times: each message goes to the error table, undecoded."""
        reason = f"processing segment(s) {[p.name for p in group]} killed a worker process 3 times"
        print(f"{reason}: their messages go to the error table as WorkerCrashed", file=self.out, flush=True)
        return crashed_result([str(p) for p in group], reason), group

    def _on_signal(self, signum, frame) -> None:
        if self.stopping:  # a second Ctrl-C: stop now (committed work is safe, the rest is re-read next time)
            raise KeyboardInterrupt
        self.stopping = True
        print("\nstopping: the edge finishes its requests, then the queue is drained (Ctrl-C again to stop now)",
              file=self.out, flush=True)
        if self.edge is not None and self.edge.poll() is None:
            self.edge.send_signal(signal.SIGTERM)

    def _loop(self, committer: Committer) -> None:
        """Hand segments to the workers, and their results, in order, to the commit thread.

        Commits run on their own thread (DuckDB works without the GIL), so the workers keep
        decoding while DuckDB commits, and through its checkpoints, which take seconds: done in
        this loop, they left the workers idle and the backlog growing (benchmarks/bench_up.py).
        """
        c = self.config
        breaks: collections.Counter = collections.Counter()
        running: collections.deque[tuple[cf.Future, list[Path]]] = collections.deque()  # at the workers, in order
        ready: collections.deque[tuple[SegmentResult, list[Path]]] = collections.deque()  # waiting for their commit
        committing: tuple[cf.Future, list[Path]] | None = None
        claimed: set[str] = set()  # segments running, ready or committing
        last_line = 0.0
        last_recover = time.monotonic()
        retry_at = 0.0
        with cf.ThreadPoolExecutor(1, thread_name_prefix="commit") as commits:
            while True:
                edge_gone = self.edge.poll() is not None
                if edge_gone and not self.stopping:
                    print(f"the edge exited unexpectedly (code {self.edge.returncode}); draining and stopping", file=self.out)
                    self.stopping = True
                    self.edge_failed = True
                # Hand out segments: keep every worker busy plus one group queued, while few results wait.
                if len(running) <= c.workers and len(ready) < MAX_READY and time.monotonic() >= retry_at:
                    group, size = [], 0
                    for path in sealed_segments(c.queue):
                        if path.name in claimed:
                            continue
                        if group and size + path.stat().st_size > c.batch_bytes:
                            break
                        group.append(path)
                        size += path.stat().st_size
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
                    future, group = running[0]
                    try:
                        ready.append((future.result(), group))
                        running.popleft()
                        self.segments_decoded += len(group)
                    except cf.process.BrokenProcessPool:
                        breaks[group[0].name] += 1
                        if breaks[group[0].name] >= 3:
                            running.popleft()
                            ready.append(self._give_up_on(group))
                        self._restart_workers(running, claimed)
                    except Exception as exc:  # processing raised: the segments stay, and are tried again
                        running.popleft()
                        claimed.difference_update(p.name for p in group)
                        print(f"processing {[p.name for p in group]} failed, will retry: {exc!r}", file=self.out, flush=True)
                        retry_at = time.monotonic() + 1.0
                # Commits, one at a time, in order.
                if committing is not None and committing[0].done():
                    future, group = committing
                    committing = None
                    try:
                        future.result()
                    except Exception as exc:
                        print(f"committing {[p.name for p in group]} failed, will retry: {exc!r}", file=self.out, flush=True)
                        retry_at = time.monotonic() + 1.0
                    claimed.difference_update(p.name for p in group)
                if committing is None and ready:
                    result, group = ready.popleft()
                    committing = (commits.submit(committer.commit, result, group), group)
                waiting = [f for f in (running[0][0] if running else None, committing[0] if committing else None) if f]
                if waiting:
                    cf.wait(waiting, timeout=c.poll, return_when=cf.FIRST_COMPLETED)
                elif edge_gone:  # nothing at the workers, nothing ready or committing
                    if not sealed_segments(c.queue):
                        recover(c.queue)  # the edge sealed its segment on exit; this catches a killed one
                        if not sealed_segments(c.queue):
                            return
                    if time.monotonic() < retry_at:
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

    # -- reporting -------------------------------------------------------------------------

    def _lag(self) -> float:
        """Seconds since the oldest uncommitted segment was started (0 when all is committed)."""
        segments = sealed_segments(self.config.queue)
        if not segments:
            return 0.0
        return max(0.0, time.time() - int(segments[0].name.split("-", 1)[0]) / 1e9)

    def _status_extra(self) -> dict:
        return {"backlog": warehouse.backlog(self.config.queue), "lag_seconds": round(self._lag(), 3),
                "accepted_since_start": self.accepted(), "pid": os.getpid(), "worker_restarts": self.worker_restarts,
                "segments_decoded_since_start": self.segments_decoded,
                "since_start": dict(self.committer.totals)}

    def _banner(self, admin_port: int) -> None:
        c = self.config
        print(f"pingpipe up\n"
              f"  POST pings to  http://{c.host}:{c.port}/submit/<namespace>/<doctype>/<version>/<document id>\n"
              f"  warehouse      {c.warehouse}   (pingpipe query --data {c.data} \"SQL\")\n"
              f"  queue          {c.queue}\n"
              f"  schemas        {c.schemas or 'shipped with pingpipe (incl. the demo Glean app pingpipe-demo)'}\n"
              f"  admin          http://127.0.0.1:{admin_port}  (pingpipe status --data {c.data})\n"
              f"Ctrl-C drains the queue and stops.", file=self.out, flush=True)

    def _line(self, final: bool = False) -> None:
        t = self.committer.totals
        if not final:
            self._accepted = self.accepted()
        accepted = self._accepted
        text = (f"accepted {accepted if accepted is not None else '-'} · loaded {t['rows']} · errors {t['errors']} · "
                f"duplicates {t['duplicates']} · lag {self._lag():.1f} s")
        if final:
            print(f"stopped: {text}", file=self.out, flush=True)
        elif getattr(self.out, "isatty", lambda: False)():
            print("\r" + text + " " * 8, end="", file=self.out, flush=True)
        elif time.monotonic() - self._printed >= 5.0:  # not a terminal: a line every 5 s is enough
            self._printed = time.monotonic()
            print(text, file=self.out, flush=True)
