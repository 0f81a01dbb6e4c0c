"""What `up` says: its banner, the live status line, the notices of the followed logs, and the lag.

The texts are pure functions; `Reporter` only decides when to print them (a terminal gets the line
rewritten in place, anything else a line every few seconds).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from pingpipe.edge.metrics import answers
from pingpipe.edge.publish.segments import sealed_segments

from . import warehouse
from .config import UpConfig

EVERY = 5.0  # seconds between status lines when the output is not a terminal


def lag(oldest: str | None, now: float) -> float:
    """Seconds since the oldest uncommitted segment was started (0 when all is committed): the edge
    names each segment by its start, in nanoseconds."""
    if oldest is None:
        return 0.0
    return max(0.0, now - int(oldest.split("-", 1)[0]) / 1e9)


def queue_lag(queue: Path) -> float:
    segments = sealed_segments(queue)
    return lag(segments[0].name if segments else None, time.time())


def accepted(edge_counts: Path) -> int:
    """Submissions the edge accepted (200) since `up` started, restarted edges included (their
    counts, written every second and on exit, are in DATA/edge)."""
    return answers(edge_counts).get(200, 0)


def status_line(accepted: int, totals: Mapping[str, int], lag_seconds: float) -> str:
    return (
        f"edge accepted {accepted} · loaded {totals['rows']} · errors {totals['errors']} · "
        f"duplicates {totals['duplicates']} · lag {lag_seconds:.1f} s"
    )


def banner(c: UpConfig, admin_port: int, ui_url: str, ui_link: str) -> str:
    """Where everything is, printed once at the start."""
    return (
        f"pingpipe up\n"
        f"  POST pings to  {c.edge_url}/submit/<namespace>/<doctype>/<version>/<document id>\n"
        f'  warehouse      {c.warehouse}   (pingpipe query --data {c.data} "SQL")\n'
        f"  queue          {c.queue}\n"
        f"  schemas        {c.schemas or 'shipped with pingpipe (incl. the demo Glean app pingpipe-demo)'}\n"
        f"  admin          http://127.0.0.1:{admin_port}  (pingpipe status --data {c.data})\n"
        f"  dictionary     {ui_link}   (open this link: it lets your browser in; pings tagged "
        f"X-Debug-ID: {ui_url}debug/)\n"
        f"  metrics        {f'http://{c.host}:{c.metrics_port}/metrics' if c.metrics_port else 'not served (--metrics-port PORT)'}\n"
        + (f"  logs           {c.logs}: Glean server events in its files, followed\n" if c.logs else "")
        + "Ctrl-C drains the queue and stops."
    )


def status(c: UpConfig, *, worker_restarts: int, segments_decoded: int, last_cycle: dict | None, totals: Mapping[str, int], logs) -> dict:
    """What the admin port's /status adds while `up` runs; `logs` is the --logs follower, or None."""
    return {
        "backlog": warehouse.backlog(c.queue),
        "lag_seconds": round(queue_lag(c.queue), 3),
        "accepted_since_start": accepted(c.edge_counts),
        "pid": os.getpid(),
        "worker_restarts": worker_restarts,
        "segments_decoded_since_start": segments_decoded,
        "last_cycle": last_cycle,
        "since_start": dict(totals),
        "logs": None if logs is None else logs_status(c.logs, logs.totals.queued, logs.totals.skipped),
    }


def logs_status(folder, queued: int, skipped: Mapping[str, int]) -> dict:
    """--logs: lines queued and lines skipped (by reason) since the start; counted on the follower's thread."""
    return {"folder": str(folder), "queued": queued, "skipped": dict(skipped)}


def new_skips(skipped: Iterable[str], said: set[str]) -> list[str]:
    """Reasons the follower skipped lines for that were not said yet, in order; each is said once."""
    fresh = sorted(set(skipped) - said)
    said.update(fresh)
    return fresh


class Reporter:
    """Prints `up`'s lines to `out`, and the follower's notices (a stop, a reason for skipping lines) once each."""

    def __init__(self, config: UpConfig, out):
        self.config = config
        self.out = out
        self._printed = 0.0
        self._skips_said: set[str] = set()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def logs(self, follower) -> None:
        if follower is None:
            return
        if follower.error is not None:  # said once; the pings go on loading
            self.say(f"following {self.config.logs} stopped: {follower.error!r}")
            follower.error = None
        for reason in new_skips(dict(follower.totals.skipped), self._skips_said):  # lines of another mozlog Type
            self.say(f"following {self.config.logs}: skipping lines: {reason} (`pingpipe status` counts them)")

    def line(self, text: str, final: bool = False) -> None:
        if final:
            self.say(f"stopped: {text}")
        elif getattr(self.out, "isatty", lambda: False)():
            print("\r" + text + " " * 8, end="", file=self.out, flush=True)
        elif time.monotonic() - self._printed >= EVERY:  # not a terminal: a line now and then is enough
            self._printed = time.monotonic()
            self.say(text)
