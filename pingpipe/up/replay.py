"""`pingpipe replay`: error rows decoded again, against the registry as it is now, through the same
decoder and router as new pings (work.py), and committed as a segment is (commit.py), exactly once.

Which rows: those of `payload_bytes_error.*` that `Selection` picks, never a counted duplicate, and
only rows with a URI: a row without one (a server's log entry, a line that was no message, a row a
warehouse refused) cannot become its ping by decoding. Each picked row ends in one place: a row of
its table (a document its table already holds, or an earlier copy in the replay holds, is a counted
duplicate instead, as dedupe has it), or an error row again. A row that fails as it did (the same
error type and message) is left as it is; one that fails otherwise is replaced by its new error.
The rows, the duplicates, the new errors, the deletion of the replayed error rows and the record of
each recovered document (REPLAYS) commit in one transaction: killed at any moment, a rerun does it all.

The stable and derived tables of a replayed day are made by that day's cycle. A day not cycled yet
gets them from the daily cycle; for a day already cycled the caller reruns its cycle
(`replay` does, unless told not to: the daily cycle runs a day once).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections import Counter
from dataclasses import dataclass

from pingpipe import faults, utc
from pingpipe.decoder.core import Decoded
from pingpipe.decoder.dedupe import document_key, later_copies
from pingpipe.decoder.failures import DUPLICATE
from pingpipe.loader.load import error_message
from pingpipe.loader.tables import ERROR_DATASET, TableId, quote
from pingpipe.schemas.names import DOCUMENT_NAMESPACE, DOCUMENT_TYPE, META_DATASET, SUBMISSION_TIMESTAMP, URI

from .work import SegmentResult, process_decoded

REPLAYS = f"{META_DATASET}.replays"  # each recovered document: when, from which error row, into which table
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


@dataclass
class Picked:
    """The error rows picked, oldest first, and the error table each is in."""

    rows: list[dict]
    tables: list[TableId]


def pick(writer, selection: Selection) -> Picked:
    """The error rows `selection` picks, oldest first, from every error table of the warehouse."""
    where, params = selection.where()
    found: list[tuple[dict, TableId]] = []
    for table in sorted((t for t in writer.tables() if t.dataset == ERROR_DATASET), key=str):
        cursor = writer.query(f"SELECT * FROM {quote(table.dataset)}.{quote(table.table)} WHERE {where}", params)
        columns = [d[0] for d in cursor.description]
        found += [(dict(zip(columns, values, strict=True)), table) for values in cursor.fetchall()]
    found.sort(key=lambda pair: pair[0][SUBMISSION_TIMESTAMP])  # stable: ties keep the table's order
    return Picked([row for row, _ in found], [table for _, table in found])


IDENTITY = (SUBMISSION_TIMESTAMP, URI, "error_type", "error_message", "payload")  # what tells error rows apart


def deletions(picked: Picked, positions: list[int]) -> list[tuple[str, list]]:
    """SQL deleting the error rows at `positions`, by what they hold (not where: a rewrite of the file
    between the pick and the commit moves rows). Identical rows are picked, and replayed, alike."""
    out = []
    for table in sorted({picked.tables[i] for i in positions}, key=str):
        rows = [picked.rows[i] for i in positions if picked.tables[i] == table]
        columns = [[row.get(c) for row in rows] for c in IDENTITY]
        out.append(
            (
                f"DELETE FROM {quote(table.dataset)}.{quote(table.table)} AS t USING (SELECT unnest(?::TIMESTAMPTZ[]) AS a, "
                "unnest(?::VARCHAR[]) AS b, unnest(?::VARCHAR[]) AS c, unnest(?::VARCHAR[]) AS d, unnest(?::BLOB[]) AS e) AS k "
                f"WHERE t.{SUBMISSION_TIMESTAMP} = k.a AND t.{URI} = k.b AND t.error_type IS NOT DISTINCT FROM k.c "
                "AND t.error_message IS NOT DISTINCT FROM k.d AND t.payload IS NOT DISTINCT FROM k.e",
                columns,
            )
        )
    return out


def decode_again(picked: Picked, decoder, loader) -> tuple[SegmentResult, list[int], list[int], list[int]]:
    """The picked rows' messages decoded and routed: the result to commit, the positions it replays
    (recovered, or failing otherwise), those that fail as they did (left as they are), and those
    that decode now."""
    pairs, replayed, unchanged = [], [], []
    for i, row in enumerate(picked.rows):
        message = error_message(row)
        decoded = decoder.decode(message)
        if not isinstance(decoded, Decoded):
            new = decoded.message.attributes
            if (new.get("error_type"), new.get("error_message")) == (row.get("error_type"), row.get("error_message")):
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


def outcome(result: SegmentResult, present: dict, seen) -> dict:
    """What committing `result` does, per table: rows new, and copies counted as duplicates (a
    document its table holds, `present`, or one the dedupe window `seen` knows, or an earlier
    copy in the replay); and the error rows it makes, per error type. The same rules as commit.py's."""
    tables: dict[str, Counter] = {}
    for table, rows in result.rows.items():
        later = later_copies(rows.ids, [about[0] for about in rows.about])
        held = present.get(table, set())
        counts = tables.setdefault(f"{table.dataset}.{table.table}", Counter())
        for i, doc in enumerate(rows.ids):
            counts["duplicates" if doc in held or doc in seen or i in later else "rows"] += 1
    errors = Counter({k.removeprefix("error."): v for k, v in result.counts.items() if k.startswith("error.")})
    return {"tables": {t: dict(c) for t, c in sorted(tables.items())}, "errors": dict(sorted(errors.items()))}


def replay(writer, committer, decoder, loader, selection: Selection, *, dry_run: bool = False) -> dict:
    """Replay the error rows `selection` picks (between commits: on `up`'s commit thread, or on a data
    folder nothing else writes); with `dry_run` only say what it would do. The report: rows picked,
    per table the rows recovered and duplicates, the error rows made again per error type, those left
    as they were, and the submission days recovered (for their cycles)."""
    picked = pick(writer, selection)
    result, replayed, unchanged, recovered = decode_again(picked, decoder, loader)
    present = {table: {k[0] for k in writer.loaded(table, sorted(set(rows.ids)))} for table, rows in result.rows.items()}
    report = {"picked": len(picked.rows), **outcome(result, present, committer.seen), "unchanged": len(unchanged)}
    report["recovers"] = recovers(picked, recovered)
    report["days"] = sorted({utc.day_of(picked.rows[i][SUBMISSION_TIMESTAMP]).isoformat() for i in replayed})
    if dry_run or not replayed:
        return report
    now = utc.now()
    for ids in present.values():  # held already: a copy of them is a duplicate, as a later copy is
        for doc in ids:
            committer.seen.setdefault(doc, now.timestamp())
    extra = [(REPLAYS_DDL, []), *deletions(picked, replayed)]
    origin = [
        (document_key(row), str(picked.tables[i]), row.get("error_type"), row[SUBMISSION_TIMESTAMP])
        for i in replayed
        for row in [picked.rows[i]]
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
    faults.point("replay")  # tests: a kill with the rows decoded, nothing committed
    counts = committer.commit(result, [], extra_sql=extra)
    report["committed"] = {k: counts[k] for k in ("rows", "duplicates", "errors")}
    return report


def recycle(report: dict, cycled: set[dt.date], run) -> None:
    """Rerun `run(day)`, the daily cycle, for each replayed day whose cycle already ran (the daily
    cycle runs a day once, so it would not see the rows); a later day's cycle is still to come."""
    days = [day for day in map(dt.date.fromisoformat, report["days"]) if day in cycled]
    report["cycled"] = {day.isoformat(): sum(run(day)["stable"].values()) for day in days}
