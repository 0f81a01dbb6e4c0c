"""`pingpipe replay`: error rows decoded again, against the registry as it is now, through the same
decoder and router as new pings (work.py), and committed as a segment is (commit.py), exactly once.

Which rows: those of `payload_bytes_error.*` that `Selection` picks, never a counted duplicate, and
only rows with a URI: a row without one (a server's log entry, a line that was no message, a row a
warehouse refused) cannot become its ping by decoding. Each picked row ends in one place: a row of
its table (a document its table already holds, or an earlier copy in the replay holds, is a counted
duplicate instead, as dedupe has it), or an error row again. A row that fails as it did (the same
error type and message) is left as it is; one that fails otherwise is replaced by its new error.
It goes CHUNK rows at a time, oldest first; a chunk's rows, duplicates and new errors, the deletion
of its replayed error rows and the record of each recovered document (REPLAYS) commit in one
transaction: killed at any moment, the chunks committed stay, and a rerun does the rest.

The stable and derived tables of a replayed day are made by that day's cycle. A day not cycled yet
gets them from the daily cycle; for a day already cycled the caller reruns its cycle
(`replay` does, unless told not to: the daily cycle runs a day once).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections import Counter
from dataclasses import dataclass

import duckdb

from pingpipe import faults, utc
from pingpipe.decoder.core import Decoded
from pingpipe.decoder.dedupe import document_key, duplicates
from pingpipe.decoder.failures import DUPLICATE
from pingpipe.loader.load import error_message
from pingpipe.loader.tables import ERROR_DATASET, TableId, quote
from pingpipe.schemas.names import DOCUMENT_NAMESPACE, DOCUMENT_TYPE, REPLAYS, SUBMISSION_TIMESTAMP, URI

from .cycle import cycled_days
from .work import SegmentResult, process_decoded

REPLAYS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {REPLAYS} (replayed_at TIMESTAMPTZ, document_id VARCHAR, error_table VARCHAR, "
    "error_type VARCHAR, submission_timestamp TIMESTAMPTZ, into_table VARCHAR)"
)


@dataclass(frozen=True)
class Selection:
    """The error rows to replay: submission days (UTC) from `since` to `until`, both included, and
    only these namespaces, doctypes and error types when given."""

    since: dt.date | None = None
    until: dt.date | None = None
    namespaces: tuple[str, ...] = ()
    doctypes: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()

    def query(self) -> str:
        """As the admin port's query string (parsed by `from_query`)."""
        pairs = [("since", self.since), ("until", self.until)]
        for key, values in (("namespace", self.namespaces), ("doctype", self.doctypes), ("error_type", self.error_types)):
            pairs += [(key, v) for v in values]
        return urllib.parse.urlencode([(k, str(v)) for k, v in pairs if v is not None])

    @classmethod
    def from_query(cls, since: str, until: str, namespace: list[str], doctype: list[str], error_type: list[str]) -> Selection:
        day = dt.date.fromisoformat
        return cls(day(since) if since else None, day(until) if until else None, tuple(namespace), tuple(doctype), tuple(error_type))

    def where(self) -> tuple[str, list]:
        """A WHERE clause (DuckDB's `?` parameters) and its parameters."""
        clauses, params = [f"{URI} IS NOT NULL", "error_type IS DISTINCT FROM ?"], [DUPLICATE]
        if self.since is not None:
            clauses.append(f"{SUBMISSION_TIMESTAMP} >= ?")
            params.append(utc.bounds(self.since)[0])
        if self.until is not None:
            clauses.append(f"{SUBMISSION_TIMESTAMP} < ?")
            params.append(utc.bounds(self.until)[1])
        for column, values in ((DOCUMENT_NAMESPACE, self.namespaces), (DOCUMENT_TYPE, self.doctypes), ("error_type", self.error_types)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params += list(values)
        return " AND ".join(clauses), params

    def where_bigquery(self) -> tuple[str, list]:
        """`where` for BigQuery: named parameters (@p0, …) and their query parameters."""
        from google.cloud import bigquery

        where, params = self.where()
        parts = where.split("?")
        sql = "".join(f"{part}@p{i}" for i, part in enumerate(parts[:-1])) + parts[-1]
        kind = {str: "STRING", dt.datetime: "TIMESTAMP"}
        return sql, [bigquery.ScalarQueryParameter(f"p{i}", kind[type(v)], v) for i, v in enumerate(params)]


@dataclass
class Picked:
    """The error rows picked, oldest first: each row, its error table, and its place there (rowid)."""

    rows: list[dict]
    tables: list[TableId]
    rowids: list[int]

    def part(self, start: int, stop: int) -> Picked:
        return Picked(self.rows[start:stop], self.tables[start:stop], self.rowids[start:stop])


def _error_tables(writer) -> list[TableId]:
    return sorted((t for t in writer.tables() if t.dataset == ERROR_DATASET), key=str)


def count(writer, selection: Selection) -> tuple[int, dt.datetime | None]:
    """How many error rows `selection` picks, and the latest one's submission time."""
    where, params = selection.where()
    refs = [f"{quote(t.dataset)}.{quote(t.table)}" for t in _error_tables(writer)]
    found = [writer.query(f"SELECT count(*), max({SUBMISSION_TIMESTAMP}) FROM {ref} WHERE {where}", params).fetchone() for ref in refs]
    return sum(n for n, _ in found), max((latest for _, latest in found if latest is not None), default=None)


def pick(writer, selection: Selection, after: dt.datetime | None, upto: dt.datetime, most: int) -> Picked:
    """The error rows `selection` picks submitted after `after` and by `upto` (a replay's start: the
    error rows that come meanwhile are not its), oldest first, from every error table: about `most`
    of them, never splitting the rows of one moment (so that the next pick, after the last of these,
    misses none, and takes none again)."""
    where, params = selection.where()
    where, params = f"{where} AND {SUBMISSION_TIMESTAMP} <= ?", [*params, upto]
    if after is not None:
        where, params = f"{where} AND {SUBMISSION_TIMESTAMP} > ?", [*params, after]
    refs = {t: f"{quote(t.dataset)}.{quote(t.table)}" for t in _error_tables(writer)}
    if refs:
        moments = " UNION ALL ".join(f"SELECT {SUBMISSION_TIMESTAMP} AS moment FROM {ref} WHERE {where}" for ref in refs.values())
        last = writer.query(f"SELECT moment FROM ({moments}) ORDER BY moment LIMIT 1 OFFSET ?", [*params * len(refs), most - 1]).fetchone()
        if last is not None:
            where, params = f"{where} AND {SUBMISSION_TIMESTAMP} <= ?", [*params, last[0]]
    found: list[tuple[dict, TableId, int]] = []
    for table, ref in refs.items():
        cursor = writer.query(f"SELECT rowid, * FROM {ref} WHERE {where}", params)
        columns = [d[0] for d in cursor.description][1:]
        found += [(dict(zip(columns, values[1:], strict=True)), table, values[0]) for values in cursor.fetchall()]
    found.sort(key=lambda picked: picked[0][SUBMISSION_TIMESTAMP])  # stable: ties keep the table's order
    return Picked([row for row, _, _ in found], [table for _, table, _ in found], [rowid for _, _, rowid in found])


MOVED = "the error rows moved since they were read (the file was rewritten meanwhile): replay again"


def deletions(picked: Picked, positions: list[int]) -> list[tuple[str, list]]:
    """SQL deleting the error rows at `positions` by their place, after checking, in the same
    transaction, that each place still holds its row (a rewrite of the file moves rows: then the
    transaction fails, and nothing is replayed)."""
    out = []
    for table in sorted({picked.tables[i] for i in positions}, key=str):
        at = [i for i in positions if picked.tables[i] == table]
        ref = f"{quote(table.dataset)}.{quote(table.table)}"
        rowids = [picked.rowids[i] for i in at]
        keys = [rowids, [picked.rows[i][SUBMISSION_TIMESTAMP] for i in at], [picked.rows[i][URI] for i in at]]
        check = (
            f"SELECT CASE WHEN count(*) = ? THEN 0 ELSE error('{MOVED}') END FROM {ref} AS t "
            "JOIN (SELECT unnest(?::BIGINT[]) AS r, unnest(?::TIMESTAMPTZ[]) AS a, unnest(?::VARCHAR[]) AS b) AS k "
            f"ON t.rowid = k.r AND t.{SUBMISSION_TIMESTAMP} = k.a AND t.{URI} = k.b"
        )
        out += [(check, [len(at), *keys]), (f"DELETE FROM {ref} WHERE rowid IN (SELECT unnest(?::BIGINT[]))", [rowids])]
    return out


def fails_as_before(row: dict, decoded) -> bool:
    """Whether an error row decoded again fails as it did (the same error type and message): then it
    stays as it is; one that fails otherwise is replaced by its new error."""
    if isinstance(decoded, Decoded):
        return False
    new = decoded.message.attributes
    return (new.get("error_type"), new.get("error_message")) == (row.get("error_type"), row.get("error_message"))


def decode_again(picked: Picked, decoder, loader) -> tuple[SegmentResult, list[int], list[int], list[int]]:
    """The picked rows' messages decoded and routed: the result to commit, the positions it replays
    (recovered, or failing otherwise), those that fail as they did (left as they are), and those
    that decode now."""
    pairs, replayed, unchanged = [], [], []
    for i, row in enumerate(picked.rows):
        message = error_message(row)
        decoded = decoder.decode(message)
        if fails_as_before(row, decoded):
            unchanged.append(i)
            continue
        pairs.append((message, decoded))
        replayed.append(i)
    result = SegmentResult([])
    process_decoded(pairs, result, decoder, loader)
    recovered = [i for i, (_, decoded) in zip(replayed, pairs, strict=True) if isinstance(decoded, Decoded)]
    return result, replayed, unchanged, recovered


def recovers(picked: Picked, positions: list[int]) -> dict[str, dict[str, int]]:
    """Per namespace/doctype, per the error type they had: the picked rows that decode now."""
    out: dict[str, Counter] = {}
    for i in positions:
        row = picked.rows[i]
        out.setdefault(f"{row.get(DOCUMENT_NAMESPACE)}/{row.get(DOCUMENT_TYPE)}", Counter())[row.get("error_type")] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


class Known:
    """Documents the dedupe window knows, or that earlier chunks of a dry run would have added."""

    def __init__(self, *sets):
        self.sets = sets

    def __contains__(self, doc: str) -> bool:
        return any(doc in s for s in self.sets)


def outcome(result: SegmentResult, present: dict, seen) -> dict:
    """What committing `result` does, per table: rows new, and copies counted as duplicates (a
    document its table holds, `present`, or one the dedupe window `seen` knows, or an earlier
    copy in the replay); and the error rows it makes, per error type. decoder/dedupe.py's rule, as
    commit.py applies it."""
    tables: dict[str, Counter] = {}
    for table, rows in result.rows.items():
        dupes = duplicates(rows.ids, [about[0] for about in rows.about], Known(present.get(table, set()), seen))
        tables[f"{table.dataset}.{table.table}"] = +Counter(rows=len(rows.ids) - len(dupes), duplicates=len(dupes))
    errors = Counter({k.removeprefix("error."): v for k, v in result.counts.items() if k.startswith("error.")})
    return {"tables": {t: dict(c) for t, c in sorted(tables.items())}, "errors": dict(sorted(errors.items()))}


CHUNK = 5000  # error rows decoded and committed together: a segment's worth, many times over


def replay(writer, committer, decoder, loader, selection: Selection, *, dry_run: bool = False, progress=None) -> dict:
    """Replay the error rows `selection` picks (between commits: on `up`'s commit thread, or on a data
    folder nothing else writes), CHUNK at a time, oldest first, each chunk in one transaction; with
    `dry_run` only say what it would do. `progress(done, picked)` after each chunk. The report: rows
    picked, per table the rows recovered and duplicates, the error rows made again per error type,
    those left as they were, per doctype what decodes now, and the submission days recovered."""
    total, upto = count(writer, selection)
    tables: dict[str, Counter] = {}
    errors, committed, recovered_by = Counter(), Counter(), {}
    done, unchanged, days, after = 0, 0, set(), None
    planned: set[str] = set()  # a dry run's: the documents earlier chunks would have added
    while upto is not None:
        for attempt in range(3):  # a rewrite of the file between the pick and the commit moves rows: pick again
            part = pick(writer, selection, after, upto, CHUNK)
            if not part.rows:
                break
            result, replayed, kept, recovered = decode_again(part, decoder, loader)
            present = {table: {k[0] for k in writer.loaded(table, sorted(set(rows.ids)))} for table, rows in result.rows.items()}
            chunk = outcome(result, present, Known(committer.seen, planned))  # before the commit adds them
            if dry_run or not replayed:
                break
            try:
                committed.update(commit(writer, committer, part, result, replayed, present))
                break
            except duckdb.Error as exc:
                if MOVED not in str(exc) or attempt == 2:
                    raise
        if not part.rows:
            break
        for table, counts in chunk["tables"].items():
            tables.setdefault(table, Counter()).update(counts)
        errors.update(chunk["errors"])
        unchanged += len(kept)
        for doctype, kinds in recovers(part, recovered).items():
            recovered_by.setdefault(doctype, Counter()).update(kinds)
        days |= {utc.day_of(part.rows[i][SUBMISSION_TIMESTAMP]).isoformat() for i in replayed}
        planned |= {doc for rows in result.rows.values() for doc in rows.ids}
        done, after = done + len(part.rows), part.rows[-1][SUBMISSION_TIMESTAMP]
        if progress is not None:
            progress(done, total)
    report = {
        "picked": done,
        "tables": {t: dict(c) for t, c in sorted(tables.items())},
        "errors": dict(sorted(errors.items())),
        "unchanged": unchanged,
        "recovers": {k: dict(sorted(v.items())) for k, v in sorted(recovered_by.items())},
        "days": sorted(days),
    }
    if not dry_run and committed:
        report["committed"] = {k: committed[k] for k in ("rows", "duplicates", "errors")}
    return report


def commit(writer, committer, part: Picked, result: SegmentResult, replayed: list[int], present: dict) -> Counter:
    """One chunk's rows, duplicates and new errors, the deletion of its replayed error rows, and the
    record of each recovered document, in one transaction (commit.py's, with the segment's rules)."""
    now = utc.now()
    for ids in present.values():  # held already: a copy of them is a duplicate, as a later copy is
        for doc in ids:
            committer.seen.setdefault(doc, now.timestamp())
    extra = [(REPLAYS_DDL, []), *deletions(part, replayed)]
    origin = [
        (document_key(row), str(part.tables[i]), row.get("error_type"), row[SUBMISSION_TIMESTAMP])
        for i in replayed
        for row in [part.rows[i]]
    ]
    for table in result.rows:
        ref = f"{quote(table.dataset)}.{quote(table.table)}"
        extra.append(
            (
                f"INSERT INTO {REPLAYS} SELECT ?, r.id, r.error_table, r.error_type, r.submitted, ? FROM "
                "(SELECT unnest(?::VARCHAR[]) AS id, unnest(?::VARCHAR[]) AS error_table, unnest(?::VARCHAR[]) AS error_type, "
                "unnest(?::TIMESTAMPTZ[]) AS submitted) AS r "
                f"WHERE r.id IN (SELECT document_id FROM {ref}) AND r.id NOT IN (SELECT unnest(?::VARCHAR[])) "
                "QUALIFY row_number() OVER (PARTITION BY r.id ORDER BY r.submitted) = 1",
                [now, f"{table.dataset}.{table.table}", *map(list, zip(*origin, strict=True)), sorted(present.get(table, ()))],
            )
        )
    faults.point("replay")  # tests: a kill with a chunk decoded, nothing of it committed
    return committer.commit(result, [], extra_sql=extra)


def recycle(report: dict, cycled: set[dt.date], run) -> None:
    """Rerun `run(day)`, the daily cycle, for each replayed day whose cycle already ran (the daily
    cycle runs a day once, so it would not see the rows); a later day's cycle is still to come."""
    days = [day for day in map(dt.date.fromisoformat, report["days"]) if day in cycled]
    report["cycled"] = {day.isoformat(): sum(run(day)["stable"].values()) for day in days}


def shred_replayed(report: dict, shred) -> None:
    """After a replay: `shred(since=day)` from its oldest day, so that a recovered ping of a client
    whose deletion was processed goes now, whatever day it was for (the shred reads those
    partitions, as it does a day's late rows)."""
    if report.get("committed", {}).get("rows") and report["days"]:
        result = shred(since=dt.date.fromisoformat(report["days"][0]))
        report["shredded"] = {table: n for table, n in result["rows"].items() if n}


def replay_and_after(writer, committer, decoder, loader, selection: Selection, *, dry_run: bool, shred, cycle=None, progress=None) -> dict:
    """`replay`, then what it leaves to do, as every runner does it: the shred of its days
    (`shred(since=…)`, shred_replayed), and with `cycle(day)` the cycle again of each replayed day
    already cycled (recycle)."""
    report = replay(writer, committer, decoder, loader, selection, dry_run=dry_run, progress=progress)
    shred_replayed(report, shred)
    if "committed" in report and cycle is not None:
        recycle(report, cycled_days(writer), cycle)
    return report
