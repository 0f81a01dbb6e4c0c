"""The processes `up` keeps running: the edge subprocess and the worker pool, and the stop that drains them.

Either may die under `up` (a crash, the OOM killer): a dead worker pool is replaced, a dead edge is
restarted unless it keeps dying. A Ctrl-C or a dying edge starts one stop, bounded by the drain timeout.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from pingpipe.decoder.core import DecoderConfig
from pingpipe.edge.config import CONFIG_ENV, ConfigError, EdgeConfig, config_to_json
from pingpipe.edge.metrics import METRICS_DIR_ENV
from pingpipe.parent import ENV as PARENT_ENV
from pingpipe.parent import die_with_parent

from .config import UpConfig, UpError
from .work import init_worker, process_segments

EDGE_RESTARTS = 3  # edge exits within a minute that `up` restarts it after; one more and it stops


def quiet_worker(config: DecoderConfig, parent: int) -> None:  # pragma: no cover - runs in a worker process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it drains
    die_with_parent(parent)
    init_worker(config)


def any_certificate():
    """Our own edge's heartbeat, over HTTPS when it has a certificate (a test's or a laptop's own)."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


class Stop:
    """The one stop of a run: asked for once (Ctrl-C, an edge that keeps dying), then bounded by the drain timeout."""

    def __init__(self, drain_timeout: float, out):
        self.drain_timeout = drain_timeout
        self.out = out
        self.stopping = False
        self.deadline = float("inf")

    def begin(self, message: str) -> None:
        self.stopping = True
        self.deadline = time.monotonic() + self.drain_timeout
        print(message, file=self.out, flush=True)

    def out_of_time(self, now: float) -> bool:
        return self.stopping and now >= self.deadline


def edge_exits(exits: list[float], now: float, limit: int = EDGE_RESTARTS) -> tuple[list[float], bool]:
    """The edge exited at `now`: the exits of the last minute, and whether there are too many to restart it again."""
    recent = [t for t in exits if now - t < 60] + [now]
    return recent, len(recent) > limit


class Edge:
    """The edge subprocess: started (its port checked first, its heartbeat awaited), restarted when it exits."""

    def __init__(self, config: UpConfig, stop: Stop, out):
        self.config = config
        self.stop = stop
        self.out = out
        self.process: subprocess.Popen | None = None
        self.failed = False  # it could not be kept running: `up` exits 1
        self.exits: list[float] = []  # when it exited unexpectedly (the last minute's)

    def start(self) -> None:
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
                metrics_port=None,  # `up` serves the edge's series with its own (metrics.py)
                tls_cert=c.tls_cert,
                tls_key=c.tls_key,
                cors_origins=c.cors_origins,
            ).check()
        except ConfigError as exc:
            raise UpError(str(exc)) from None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINGPIPE_EDGE_")}  # its config is ours alone
        env.update({CONFIG_ENV: config_to_json(edge), METRICS_DIR_ENV: str(c.edge_counts), PARENT_ENV: str(os.getpid())})
        # No code of ours between fork and exec (no preexec_fn): a fork that runs Python in a process with
        # gRPC's threads can abort the child. The edge asks for its death signal itself (parent.py).
        self.process = subprocess.Popen([sys.executable, "-m", "pingpipe.edge.server"], env=env, process_group=0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UpError(f"the edge could not start on {c.host}:{c.port} (exit {self.process.returncode}; see above)")
            try:
                with urllib.request.urlopen(f"{c.edge_url}/__lbheartbeat__", timeout=1, context=any_certificate()) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise UpError(f"the edge did not answer on {c.host}:{c.port} within 30 s")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def restart(self) -> None:
        """Restart an edge that exited, as the workers are; one that keeps exiting stops `up` (exit 1)."""
        self.exits, too_many = edge_exits(self.exits, time.monotonic())
        code = self.process.returncode
        if too_many:
            self.failed = True
            self.stop.begin(f"the edge exited (code {code}) {len(self.exits)} times within a minute; draining and stopping")
            return
        print(f"the edge exited unexpectedly (code {code}); restarting it", file=self.out, flush=True)
        try:
            self.start()
        except UpError as exc:
            self.failed = True
            self.stop.begin(f"{exc}; draining and stopping")

    def terminate(self) -> None:
        """It finishes the requests it has, then exits (sealing its segment)."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.running():
            self.process.kill()


class Workers:
    """The worker processes that decode segments (work.py), replaced whole when one dies."""

    def __init__(self, count: int, decoder_config: DecoderConfig, out):
        self.count = count
        self.decoder_config = decoder_config
        self.out = out
        self.restarts = 0
        self.pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            self.count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=quiet_worker,
            initargs=(self.decoder_config, os.getpid()),
        )

    def submit(self, paths: list[str]) -> cf.Future:
        """BrokenProcessPool if a worker died since the last result."""
        return self.pool.submit(process_segments, paths)

    def restart(self, lost: int) -> None:
        """A worker died (the OOM killer, a crash in a C library): the pool and every result still at the
        workers are gone, the segments are not. Start a fresh pool; the segments are handed out again."""
        print(f"a worker process died; restarting the workers ({lost} segment(s) are processed again)", file=self.out, flush=True)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()
        self.restarts += 1

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
