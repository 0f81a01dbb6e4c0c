"""Which queue segments go to the workers next, and the loop that hands them out and commits their results.

Segments are handed out oldest first, in groups of up to batch_bytes, and their results committed in
the order they were handed out, one commit at a time on a thread of its own. A segment that failed is
tried again later, alone, while the segments behind it go on (retry.py): commits need no order, since
each segment is marked done in the same transaction as its rows, and deleted only after. A segment
that keeps failing on its data is given up: its messages become error rows.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pingpipe.decoder.failures import LOAD
from pingpipe.edge.publish.segments import recover, sealed_segments

from .commit import Committer
from .config import UpConfig
from .retry import Failures, environmental
from .supervise import Edge, Stop, Workers
from .work import SegmentFailed, SegmentResult, WorkerCrashed, error_result

MAX_READY = 4  # results waiting for the commit thread (each a group of segments, up to batch_bytes of pings)


def segment_size(path: Path) -> int | None:
    """Its size, or None once it is gone (committed and deleted meanwhile)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def next_group(
    segments: Iterable[Path],
    claimed: set[str],
    failures: Failures,
    now: float,
    *,
    stopping: bool,
    batch_bytes: int,
    size: Callable[[Path], int | None] = segment_size,
) -> list[Path]:
    """The next segments to hand out together: up to batch_bytes of them, in the order given (oldest
    first), those that are due. One that failed before goes alone; while stopping, it stays queued for
    the next start."""
    group, total = [], 0
    for path in segments:
        name = path.name
        if name in claimed or not failures.due(name, now) or (stopping and failures.suspect(name)):
            continue
        if failures.suspect(name):
            if group:
                break
            return [path]
        bytes_ = size(path)
        if bytes_ is None:
            continue
        if group and total + bytes_ > batch_bytes:
            break
        group.append(path)
        total += bytes_
    return group


def given_up_error(name: str, exc: BaseException, attempts: int) -> tuple[BaseException, str]:
    """What a given-up segment's error rows say, and their error type."""
    if isinstance(exc, WorkerCrashed):
        return WorkerCrashed(f"processing segment {name} killed a worker process {attempts} times"), "WorkerCrashed"
    return SegmentFailed(f"segment {name} failed {attempts} times on its own: {exc!r}"), LOAD


def failure_line(stage: str, names: list[str], exc: BaseException, delay: float) -> str:
    """What `up` says when a group's processing or commit failed."""
    kind = "the environment's" if environmental(exc) else "retried alone" if len(names) > 1 else "retried"
    return f"{stage} {names} failed ({kind}, in {delay:.0f} s; the segments behind go on): {exc!r}"


class Scheduler:
    """The loop: segments to the workers, their results to the commit thread, the daily cycle between commits."""

    def __init__(
        self,
        config: UpConfig,
        failures: Failures,
        workers: Workers,
        committer: Committer,
        edge: Edge,
        stop: Stop,
        cycle_due: Callable[[float, bool], object],
        run_cycle: Callable[[object], dict],
        tick: Callable[[], None],
        out,
    ):
        """`cycle_due(now, stopping)` is the day whose cycle should run now, or None; `run_cycle(day)` runs
        it on the commit thread; `tick()` runs about once a second (the status line)."""
        self.config = config
        self.failures = failures
        self.workers = workers
        self.committer = committer
        self.edge = edge
        self.stop = stop
        self.cycle_due = cycle_due
        self.run_cycle = run_cycle
        self.tick = tick
        self.out = out
        self.segments_decoded = 0  # results back from the workers (committed or waiting for their commit)
        self.metrics = None  # up's UpMetrics (metrics.py): worker latency, retries, give-ups, cycles that failed

    def next_group(self, claimed: set[str], now: float) -> list[Path]:
        c = self.config
        return next_group(sealed_segments(c.queue), claimed, self.failures, now, stopping=self.stop.stopping, batch_bytes=c.batch_bytes)

    def _given_up(self, path: Path) -> SegmentResult:
        error, error_type = given_up_error(path.name, self.failures.given_up[path.name], self.config.retry.attempts)
        if self.metrics is not None:
            self.metrics.given_up.inc()
        print(f"{error}: its messages go to the error table as {error_type}", file=self.out, flush=True)
        return error_result([str(path)], error, error_type)

    def _failed(self, stage: str, group: list[Path], exc: BaseException, now: float) -> None:
        names = [p.name for p in group]
        self.failures.failed(names, exc, now)
        if self.metrics is not None:
            self.metrics.retries.inc()
        delay = max(0.0, self.failures.not_before[names[0]] - now)
        print(failure_line(stage, names, exc, delay), file=self.out, flush=True)

    def _restart_workers(self, running: collections.deque, claimed: set[str]) -> None:
        """Every result still at the workers is lost with the pool; its segments are handed out again."""
        lost = [p.name for _, group in running for p in group]
        self.workers.restart(len(lost))
        claimed.difference_update(lost)
        running.clear()

    def run(self) -> None:
        """Hand segments to the workers, and their results, in order, to the commit thread, until stopped.

        Commits run on their own thread (DuckDB works without the GIL), so the workers keep
        decoding while DuckDB commits, and through its checkpoints, which take seconds: done in
        this loop, they left the workers idle and the backlog growing (benchmarks/bench_up.py).
        A segment that fails is tried again later (retry.py); the others do not wait for it.
        """
        c = self.config
        failures, edge, stop = self.failures, self.edge, self.stop
        running: collections.deque[tuple[cf.Future, list[Path]]] = collections.deque()  # at the workers, in order
        ready: collections.deque[tuple[SegmentResult, list[Path]]] = collections.deque()  # waiting for their commit
        committing: tuple[cf.Future, list[Path]] | None = None
        claimed: set[str] = set()  # segments running, ready or committing
        submitted: dict[cf.Future, float] = {}  # when each group at the workers was handed out
        last_line = 0.0
        last_recover = time.monotonic()
        with cf.ThreadPoolExecutor(1, thread_name_prefix="commit") as commits:
            while True:
                now = time.monotonic()
                if edge.exited() and not stop.stopping:
                    edge.restart()
                out_of_time = stop.out_of_time(now)
                if out_of_time:
                    edge.kill()  # it did not finish its requests in time: unanswered ones were not acknowledged
                # Hand out segments: keep every worker busy plus one group queued, while few results wait.
                if not out_of_time and len(running) <= c.workers and len(ready) < MAX_READY:
                    group = self.next_group(claimed, now)
                    if group and group[0].name in failures.given_up:
                        claimed.add(group[0].name)
                        ready.append((self._given_up(group[0]), group))
                        continue
                    if group:
                        try:
                            future = self.workers.submit([str(p) for p in group])
                        except cf.process.BrokenProcessPool:  # a worker died since the last result
                            self._restart_workers(running, claimed)
                            continue
                        claimed.update(p.name for p in group)
                        running.append((future, group))
                        submitted[future] = now
                        continue
                # Results, in order.
                while running and running[0][0].done():
                    future, group = running.popleft()
                    if self.metrics is not None and future in submitted:
                        self.metrics.worker_seconds.observe(time.monotonic() - submitted[future])
                    submitted.pop(future, None)
                    try:
                        ready.append((future.result(), group))
                        self.segments_decoded += len(group)
                    except cf.process.BrokenProcessPool:
                        claimed.difference_update(p.name for p in group)
                        failures.failed([p.name for p in group], WorkerCrashed("a worker process died"), now)
                        if self.metrics is not None:
                            self.metrics.retries.inc()
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
                            if self.metrics is not None:
                                self.metrics.cycle(None, failed=True)
                    claimed.difference_update(p.name for p in group)
                if committing is None and not ready:  # between commits: the writer is free
                    day = self.cycle_due(now, stop.stopping)
                    if day is not None:
                        committing = (commits.submit(self.run_cycle, day), [])
                if committing is None and ready:
                    result, group = ready.popleft()
                    committing = (commits.submit(self.committer.commit, result, group), group)
                    del result  # a result (decoded pings, debug entries) can be hundreds of MB: not kept while idle
                waiting = [f for f in (running[0][0] if running else None, committing[0] if committing else None) if f]
                if waiting:
                    cf.wait(waiting, timeout=c.poll, return_when=cf.FIRST_COMPLETED)
                elif stop.stopping and edge.exited():  # nothing at the workers, ready or committing
                    if out_of_time or not self.next_group(claimed, now):
                        recover(c.queue)  # the edge sealed its segment on exit; this catches a killed one
                        if out_of_time or not self.next_group(claimed, now):
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
                    self.tick()
