"""`pingpipe stats`: one UTC day's pings accounted for, from what the edge accepted to where each went.

    accepted = rows + error rows + counted duplicates + still queued + shredded + expired

`accepted` is the queue's own ledger (edge/publish/accepted.py: each sealed segment counted before
it is renamed, and the open ones read), never what later stages say; the right-hand side is the
warehouse (one snapshot) and the queue's segments not committed yet. Replayed rows moved from the
error rows to the rows, so they change no side. When the identity does not hold, the report says
which side is larger: more accepted than accounted for is a loss after the edge; more accounted
for than accepted is rows that did not come through the queue (`pingpipe load`, a backfill).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

from pingpipe import utc
from pingpipe.decoder.failures import DUPLICATE
from pingpipe.dictionary.figures import recorded_checks
from pingpipe.edge.publish import accepted as ledger
from pingpipe.edge.publish.segments import OPEN, SEALED
from pingpipe.loader.writers.duckdb import cursor as duckdb_cursor
from pingpipe.logs import records as log_records
from pingpipe.schemas.names import (
    DELETED,
    DOCUMENT_NAMESPACE,
    DOCUMENT_TYPE,
    DOCUMENT_VERSION,
    ERROR_DATASET,
    META_DATASET,
    REPLAYS,
    SUBMISSION_TIMESTAMP,
    URI,
    TableId,
    dataset_family,
    family_of,
    is_live,
    live_table,
    sanitize_identifier,
    unversioned,
    versioned_table,
)
from pingpipe.up.warehouse import columns_by_table, committed_segments

BY = ("namespace", "doctype", "table")
SIDES = ("rows", "errors", "duplicates", "queued", "shredded", "expired")
_VERSION = re.compile(r"_v([0-9]+)$")


def label(family: str, stem: str, version: str, by: str | None) -> str:
    """A group's name: all, its app's dataset family, its ping (`family/doctype`), or its live table."""
    if by is None:
        return "all"
    if by == "namespace":
        return family
    if by == "doctype":
        return f"{family}/{stem}"
    return str(live_table(family, versioned_table(stem, int(version)) if version.isdigit() else stem))


def key(namespace: str, doctype: str, version: str, by: str | None) -> str:
    """The group a ping counts in, whichever side counts it, from the names its URI gave."""
    if namespace.startswith("logs:"):
        table = log_records.table_of(namespace[len("logs:") :], doctype or "_")
        return label(family_of(table.dataset) or table.dataset, table.table, "", by)
    return label(dataset_family(namespace) if namespace else "", sanitize_identifier(doctype) if doctype else "", version, by)


def table_key(table: TableId, by: str | None) -> str:
    """A live table's group."""
    found = _VERSION.search(table.table)
    return label(family_of(table.dataset) or table.dataset, unversioned(table.table), found.group(1) if found else "", by)


def _in_day(counts: Counter, day: str, by: str | None) -> Counter:
    out: Counter = Counter()
    for text, n in counts.items():
        on, namespace, doctype, version = (text.split(" ") + ["", "", "", ""])[:4]
        if on == day:
            out[key(namespace, doctype, version, by)] += n
    return out


def queue_side(queue: Path) -> tuple[dict[str, Counter], dict[str, Counter]]:
    """Read once, before the warehouse: every segment there now (by stem: its counts), sealed and
    open; and the ledger (after the listing, so that a segment sealed meanwhile is in one or both)."""
    found: dict[str, Counter] = {}
    if queue.is_dir():
        for path in sorted(queue.glob(f"*{OPEN}")) + sorted(queue.glob(f"*{SEALED}")):
            try:
                found[ledger.stem(path.name)] = ledger.count(path.read_bytes())
            except FileNotFoundError:  # sealed or committed meanwhile: the ledger, or the warehouse, has it
                continue
    return found, ledger.ledger(queue)


def warehouse_side(cursor, day: dt.date, by: str | None) -> tuple[dict[str, Counter], set[str]]:
    """From one snapshot: per side, per group, the day's figures; and the segments committed."""
    start, end = utc.bounds(day)
    tables = columns_by_table(cursor)
    sides: dict[str, Counter] = {side: Counter() for side in (*SIDES, "replayed")}
    errors_by_type: Counter = Counter()
    for table, columns in sorted(tables.items(), key=lambda t: str(t[0])):
        ref = f'"{table.dataset}"."{table.table}"'
        if is_live(table.dataset) and SUBMISSION_TIMESTAMP in columns:
            (n,) = cursor.execute(
                f"SELECT count(*) FROM {ref} WHERE {SUBMISSION_TIMESTAMP} >= ? AND {SUBMISSION_TIMESTAMP} < ?", [start, end]
            ).fetchone()
            sides["rows"][table_key(table, by)] += n
        elif table.dataset == ERROR_DATASET:
            legacy = f"split_part({URI}, '/', 3) = 'telemetry'"  # /submit/telemetry/<docid>/<doctype>/…: no version
            for namespace, doctype, version, error_type, n in cursor.execute(
                f"SELECT coalesce({DOCUMENT_NAMESPACE}, split_part({URI}, '/', 3)), "
                f"coalesce({DOCUMENT_TYPE}, CASE WHEN {legacy} THEN split_part({URI}, '/', 5) ELSE split_part({URI}, '/', 4) END), "
                f"coalesce({DOCUMENT_VERSION}, CASE WHEN {legacy} THEN '' ELSE split_part({URI}, '/', 5) END), "
                f"error_type, count(*) FROM {ref} WHERE {SUBMISSION_TIMESTAMP} >= ? AND {SUBMISSION_TIMESTAMP} < ? GROUP BY ALL",
                [start, end],
            ).fetchall():
                group = key(namespace or "", doctype or "", version or "", by)
                if error_type == DUPLICATE:
                    sides["duplicates"][group] += n
                else:
                    sides["errors"][group] += n
                    errors_by_type[error_type] += n
    meta = {t.table for t in tables if t.dataset == META_DATASET}
    if DELETED.split(".")[1] in meta:
        for reason, name, namespace, doctype, n in cursor.execute(
            f"SELECT reason, table_name, {DOCUMENT_NAMESPACE}, {DOCUMENT_TYPE}, count(*) FROM {DELETED} "
            f"WHERE {SUBMISSION_TIMESTAMP} >= ? AND {SUBMISSION_TIMESTAMP} < ? GROUP BY ALL",
            [start, end],
        ).fetchall():
            table = TableId.parse(name)
            if is_live(table.dataset):  # a stable copy deleted was never a second ping
                sides[reason][table_key(table, by)] += n
            elif table.dataset == ERROR_DATASET:
                sides[reason][key(namespace or "", doctype or "", "", by)] += n
    if REPLAYS.split(".")[1] in meta:
        for name, n in cursor.execute(
            f"SELECT into_table, count(*) FROM {REPLAYS} WHERE {SUBMISSION_TIMESTAMP} >= ? AND {SUBMISSION_TIMESTAMP} < ? GROUP BY 1",
            [start, end],
        ).fetchall():
            sides["replayed"][table_key(TableId.parse(name), by)] += n
    sides["errors_by_type"] = errors_by_type
    return sides, committed_segments(cursor, tables)


def stats(con, day: dt.date, queue: Path, by: str | None = None) -> dict:
    """The day's figures per group (`by`: None, or one of BY) and whether the identity holds for each."""
    segments, sealed = queue_side(queue)
    cursor = duckdb_cursor(con)
    cursor.execute("BEGIN TRANSACTION")
    try:
        sides, committed = warehouse_side(cursor, day, by)
        checks = failed_checks(cursor, day)
    finally:
        cursor.execute("ROLLBACK")
        cursor.close()
    text = day.isoformat()
    accepted = Counter()
    for counts in sealed.values():
        accepted.update(_in_day(counts, text, by))
    for stem, counts in segments.items():
        if stem not in sealed:  # open when read, and not sealed since: its lines are the ledger's to come
            accepted.update(_in_day(counts, text, by))
    sides["queued"] = Counter()
    for stem, counts in segments.items():
        if stem not in committed:
            sides["queued"].update(_in_day(counts, text, by))
    groups = []
    for group in sorted(set(accepted) | {g for side in (*SIDES, "replayed") for g in sides[side]}):
        row = {"group": group, "accepted": accepted[group], **{side: sides[side][group] for side in (*SIDES, "replayed")}}
        if not any(row[k] for k in ("accepted", *SIDES, "replayed")):
            continue  # a table with nothing of the day
        accounted = sum(row[side] for side in SIDES)
        row["holds"] = accounted == row["accepted"]
        if not row["holds"]:
            gap = row["accepted"] - accounted
            row["differs"] = (
                f"{gap} accepted and not accounted for (lost after the edge)"
                if gap > 0
                else f"{-gap} accounted for and never accepted by the edge (loaded another way, or its ledger lost)"
            )
        groups.append(row)
    return {
        "day": text,
        "by": by,
        "groups": groups,
        "errors_by_type": dict(sorted(sides["errors_by_type"].items())),
        "holds": all(g["holds"] for g in groups),
        "checks_failed": checks,
    }


def failed_checks(cursor, day: dt.date) -> dict[str, list[dict]]:
    """The derived tables' checks (checks.sql) that failed in the day's daily cycle, by table."""
    checked = next((checks for _, checks in recorded_checks(cursor, day)), {})
    return {table: failed for table, outcomes in sorted(checked.items()) if (failed := [o for o in outcomes if not o["passed"]])}


def table(result: dict) -> list[str]:
    """The report as a person reads it: a line per group, and the verdict."""
    if not result["groups"]:
        return [f"nothing was accepted on {result['day']}"] + _checks_lines(result)
    head = ["accepted", *SIDES, "replayed"]
    width = max([len(g["group"]) for g in result["groups"]] + [5])
    out = [f"{'':<{width}}  " + "  ".join(f"{h:>10}" for h in head) + "  identity"]
    for g in result["groups"]:
        verdict = "holds" if g["holds"] else f"differs: {g['differs']}"
        out.append(f"{g['group']:<{width}}  " + "  ".join(f"{g[h]:>10,}" for h in head) + f"  {verdict}")
    if result["errors_by_type"]:
        out.append("errors by type: " + ", ".join(f"{k} {v:,}" for k, v in result["errors_by_type"].items()))
    verdict = "holds" if result["holds"] else "does NOT hold"
    out.append(f"{result['day']}: accepted = rows + errors + duplicates + queued + shredded + expired {verdict}")
    return out + _checks_lines(result)


def _checks_lines(result: dict) -> list[str]:
    return [
        f"{table}: check {o['check']} (#{o['marker']}) failed on {result['day']}: {o['message']}"
        for table, failed in (result.get("checks_failed") or {}).items()
        for o in failed
    ]
