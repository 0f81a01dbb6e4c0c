"""The parent side of `pingpipe up`: deduplicate worker results and commit them, exactly once.

A segment's rows, its error rows, the document ids it adds to the dedupe window, and the mark
"this segment is done" go into DuckDB in one transaction. The segment file is deleted only
after that commit. A crash before the commit leaves the segment to be processed again (none of
its rows were kept); a crash after it leaves a file whose mark says "done", deleted at the next
start. Either way no ping is lost and none is loaded twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from pathlib import Path

import duckdb

from pingpipe.decoder.dedupe import DedupeConfig, duplicates
from pingpipe.loader.load import beyond_log_tables, refusals, refused_row
from pingpipe.loader.tables import ERROR_FIELDS, TableId, error_table
from pingpipe.loader.writers.duckdb import META_SCHEMA, DuckDBWriter
from pingpipe.logs import records as log_records

from .work import SegmentResult

SEGMENTS = f"{META_SCHEMA}.segments"
SEEN = f"{META_SCHEMA}.seen_document_ids"


class Committer:
    def __init__(
        self,
        writer: DuckDBWriter,
        *,
        dedupe_window: float = DedupeConfig.window,
        max_document_ids: int = DedupeConfig.max_ids,
        max_log_tables: int = log_records.MAX_TABLES,
    ):
        """Ids are remembered for `dedupe_window` seconds, or the last `max_document_ids` of them if
        fewer (about 120 bytes of memory each: the bound keeps a long, fast run from growing without end).
        Which copy wins is decoder/dedupe.py's rule, the same as Beam's."""
        self.writer = writer
        self.debug = None  # the debug viewer's DebugStore: tagged pings are handed to it once committed
        self.metrics = None  # up's UpMetrics (metrics.py), told what each commit wrote and how long it took
        self.dedupe_window = dedupe_window
        self.max_document_ids = max_document_ids
        self.max_log_tables = max_log_tables  # tables one service's log Types may make (logs/records.py)
        self.totals: Counter = Counter()
        con = writer.con  # opened with its settings made (UpConfig.duckdb_threads): they are locked now
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {SEGMENTS} (name VARCHAR PRIMARY KEY, messages BIGINT, rows BIGINT,"
            " errors BIGINT, duplicates BIGINT, committed_at TIMESTAMPTZ)"
        )
        con.execute(f"CREATE TABLE IF NOT EXISTS {SEEN} (document_id VARCHAR, seen_at DOUBLE)")
        for namespace in ("telemetry", "structured"):  # error tables exist from the start: they can be queried empty
            writer.ensure_table(error_table(namespace), ERROR_FIELDS)
        # Document ids seen within the window, oldest first (insertion order is time order).
        self.seen: OrderedDict[str, float] = OrderedDict(
            con.execute(
                f"SELECT * FROM (SELECT document_id, seen_at FROM {SEEN} WHERE seen_at >= ? ORDER BY seen_at DESC LIMIT ?) "
                f"ORDER BY seen_at",
                [time.time() - dedupe_window, max_document_ids],
            ).fetchall()
        )
        self._last_prune = 0.0
        self._lock = threading.Lock()

    def done_segments(self) -> set[str]:
        return {name for (name,) in self.writer.con.execute(f"SELECT name FROM {SEGMENTS}").fetchall()}

    def forget_done(self, queue: Path) -> int:
        """Delete segment files whose rows were committed before a crash (their mark says done)."""
        done = self.done_segments()
        removed = 0
        for path in queue.glob("*.ndjson"):
            if path.name in done:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def commit(self, result: SegmentResult, paths: list[Path], extra_sql: list[tuple[str, list]] = ()) -> Counter:
        """Deduplicate, write and mark one result in one transaction (with `extra_sql`, after the rows);
        then delete its files.

        If the warehouse refuses the batch, the rows it refuses on their own are found (each tried
        alone, and rolled back) and written as error rows with its message; the rest is written again.
        """
        with self._lock:  # the scheduler's commits, and a replay's from the admin port: one at a time
            started = time.monotonic()
            counts = self._commit(result, paths, extra_sql)
            if self.metrics is not None:
                self.metrics.commit_seconds.observe(time.monotonic() - started)
            return counts

    def _commit(self, result: SegmentResult, paths: list[Path], extra_sql: list[tuple[str, list]]) -> Counter:
        now = time.time()
        refused: dict[tuple[TableId, int], str] = self._beyond_log_tables(result)
        for attempt in (1, 2):
            batches, positions, counts, new_ids = self._plan(result, now, refused)
            try:
                self.writer.write(batches, extra_sql=[*self._marks(result, counts, new_ids, now), *extra_sql])
                break
            except BaseException as exc:
                for document_id in new_ids:  # nothing was kept: forget them again
                    self.seen.pop(document_id, None)
                if attempt == 2 or not isinstance(exc, duckdb.Error):
                    raise
                found = self._refused_rows(result, batches, positions)
                if not found:
                    raise
                refused.update(found)
        if self.metrics is not None:
            self.metrics.committed(batches)
        seen = self.seen
        if now - self._last_prune > 60:
            self._last_prune = now
            cutoff = now - self.dedupe_window
            while seen and next(iter(seen.values())) < cutoff:
                seen.popitem(last=False)
        while len(seen) > self.max_document_ids:
            seen.popitem(last=False)
        for path in paths:
            path.unlink(missing_ok=True)
        if result.debug and self.debug is not None:
            self.debug.add(result.debug)
        self.totals.update(counts)
        return counts

    def _plan(self, result: SegmentResult, now: float, refused: dict):
        """The batches to write: rows not seen before, duplicates and refused rows as error rows."""
        batches: dict[TableId, tuple[list[dict], list]] = {}
        positions: dict[TableId, list[int]] = {}
        errors: dict[TableId, list[bytes]] = {t: list(rows) for t, rows in result.errors.items()}
        counts = Counter(messages=result.messages, errors=result.counts["errors"])
        new_ids: list[str] = []
        seen = self.seen
        for table, rows in result.rows.items():
            keep = []
            ids = rows.ids
            dupes = duplicates(ids, [about[0] for about in rows.about], seen)  # about[0]: submission_timestamp
            for i in range(len(ids)):
                document_id = ids[i]
                if i in dupes:
                    where_to, duplicate = rows.duplicate(i)
                    errors.setdefault(where_to, []).append(duplicate)
                    counts["duplicates"] += 1
                    continue
                message = refused.get((table, i))
                if message is not None:
                    where_to, row = refused_row(rows.row(i), table, message)
                    errors.setdefault(where_to, []).append(row)
                    counts["errors"] += 1
                    continue
                seen[document_id] = now
                new_ids.append(document_id)
                keep.append(i)
            batches[table] = (rows.fields, rows.select(keep))
            positions[table] = keep
            counts["rows"] += len(keep)
        for table, rows in errors.items():
            batches[table] = (ERROR_FIELDS, rows)
        return batches, positions, counts, new_ids

    def _marks(self, result: SegmentResult, counts: Counter, new_ids: list[str], now: float) -> list:
        """The SQL that commits with the rows: seen ids, "segment done" marks, the dedupe window's pruning."""
        extra = [(f"INSERT INTO {SEEN} SELECT unnest(?::VARCHAR[]), ?", [new_ids, now])] if new_ids else []
        for i, name in enumerate(result.names):  # a group's counts go on its first file
            c = counts if i == 0 else Counter()
            extra.append(
                (f"INSERT INTO {SEGMENTS} VALUES (?, ?, ?, ?, ?, now())", [name, c["messages"], c["rows"], c["errors"], c["duplicates"]])
            )
        if now - self._last_prune > 60:
            oldest_kept = next(iter(self.seen.values()), now)
            extra.append((f"DELETE FROM {SEEN} WHERE seen_at < ?", [max(now - self.dedupe_window, oldest_kept)]))
        return extra

    def _beyond_log_tables(self, result: SegmentResult) -> dict[tuple[TableId, int], str]:
        """The rows of log tables a service may not make (loader/load.py's rule): refused, as error rows."""
        beyond = beyond_log_tables(self.writer, result.rows, self.max_log_tables)
        return {(table, i): reason for table, reason in beyond.items() for i in range(len(result.rows[table].ids))}

    def _refused_rows(self, result: SegmentResult, batches: dict, positions: dict) -> dict[tuple[TableId, int], str]:
        """The refused rows (loader/load.py's rule), by their position in the result."""
        found = refusals(self.writer, {table: batches[table] for table in result.rows})
        return {(table, positions[table][index]): message for (table, index), message in found.items()}
