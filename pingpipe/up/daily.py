"""The daily cycle inside `up`: when it is due, and running it on `up`'s writer between commits.

The cycle itself (dedupe, shred, expire, derived tables) is cycle.py's; here is what `up` adds:
a check once a minute for a completed UTC day whose cycle has not run, the report it keeps for
`status`, and the debug viewer forgetting shredded clients. The admin port's shred and etl run
through here too, so they share that writer and those rules.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pingpipe import utc
from pingpipe.dictionary.debug import DebugStore

from . import cycle
from .config import UpConfig

CHECK_EVERY = 60.0  # seconds between looks at the warehouse for a day whose cycle is due


class CycleClock:
    """When to look whether a cycle is due: at most once a minute, never while stopping nor when turned off."""

    def __init__(self, enabled: bool, every: float = CHECK_EVERY):
        self.enabled = enabled
        self.every = every
        self.checked = 0.0

    def look(self, now: float, stopping: bool) -> bool:
        if not self.enabled or stopping or now - self.checked < self.every:
            return False
        self.checked = now
        return True


def summary(day: dt.date, report: dict) -> list[str]:
    """The lines `up` prints after a day's cycle: the counts, then each query that failed."""
    head = (
        f"daily cycle for {day}: stable {sum(report['stable'].values())} row(s), shredded "
        f"{sum(report['shredded'].values())}, expired {sum(report['expired'].values())}, "
        f"derived tables {len(report['etl']['ran'])} ({len(report['etl']['failed'])} failed)"
    )
    return [head] + [f"  etl: {message}" for message in report["etl"]["failed"].values()]


class DailyCycle:
    """The daily cycle, shred and etl on `up`'s writer (each between commits: on the commit thread, or from the admin port)."""

    def __init__(self, config: UpConfig, writer, registry, rules: list, debug: DebugStore | None, out, committer=None):
        self.config = config
        self.committer = committer  # `up`'s: a replay commits through it, so that its dedupe window sees the rows
        self._decoding = None  # a replay's decoder and loader, made at the first
        self.writer = writer
        self.registry = registry
        self.rules = rules
        self.debug = debug
        self.out = out
        self.clock = CycleClock(config.daily_cycle)
        self.metrics = None  # up's UpMetrics (metrics.py): each cycle's outcome and step times
        self.last: dict | None = None  # the last cycle's report

    def due(self, now: float, stopping: bool) -> dt.date | None:
        """Yesterday, if its cycle (dedupe, shred, expire) should run now; the warehouse is asked once a minute."""
        if not self.clock.look(now, stopping):
            return None
        return cycle.due(self.writer, utc.today())

    def run(self, day: dt.date) -> dict:
        """The daily cycle for `day` (cycle.py)."""
        report = cycle.run_cycle(
            self.writer, self.registry, day, error_retention_days=self.config.error_retention_days, rules=self.rules, sql=self.config.sql
        )
        self.forget_shredded()
        self.last = report
        if self.metrics is not None:
            self.metrics.cycle(report)
        for text in summary(day, report):
            print(text, file=self.out, flush=True)
        return report

    def shred(self, dry_run: bool, rules: list, full: bool = False, since: dt.date | None = None) -> dict:
        """`pingpipe shred` through the admin port: as the cycle shreds, and the debug viewer forgets them."""
        result = cycle.shred_warehouse(self.writer, dry_run=dry_run, rules=rules, full=full, since=since)
        if not dry_run:
            self.forget_shredded()
        return result

    def forget_shredded(self) -> None:
        """The debug viewer keeps no ping of a client whose deletion was processed."""
        if self.debug is not None:
            self.debug.forget(cycle.shredded_ids(self.writer))

    def replay(self, selection, dry_run: bool, cycle_days: bool = True, schemas: Path | None = None) -> dict:
        """`pingpipe replay` through the admin port: on `up`'s warehouse and committer, with its schemas
        (a dry run may name others: `schemas diff --errors`); then the cycle again of each replayed
        day already cycled (unless `cycle_days` is False)."""
        from pingpipe.decoder.core import Decoder, DecoderConfig
        from pingpipe.loader.load import Loader

        from . import replay

        if schemas is not None and not dry_run:
            raise ValueError("only a dry run replays with other schemas than up's")
        decoding = self._decoding
        if decoding is None or schemas is not None:
            decoder = Decoder.from_config(DecoderConfig(schemas=schemas or self.config.schemas, geoip_db=self.config.geoip_db))
            decoding = (decoder, Loader(decoder.registry))
            if schemas is None:
                self._decoding = decoding
        return replay.replay_and_after(
            self.writer,
            self.committer,
            *decoding,
            selection,
            dry_run=dry_run,
            shred=lambda since: self.shred(False, self.rules, since=since),
            cycle=self.run if cycle_days else None,
        )

    def etl(self, day: dt.date, only: set[str] | None, sql: str | None) -> dict:
        """`pingpipe etl run` through the admin port: the caller's queries (a folder), or up's own."""
        return cycle.run_etl(self.writer, self.registry, day, sql=Path(sql) if sql else self.config.sql, only=only).as_dict()
