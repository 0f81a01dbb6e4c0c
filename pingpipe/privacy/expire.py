"""Expiry: rows older than their table's retention are deleted.

A ping's retention is its schema's `mozPipelineMetadata.expiration_policy.delete_after_days`
(BigQuery gets it as the partition expiration when the table is made; on DuckDB this deletes
the days past it, live and stable tables alike). Error rows hold raw payloads, which may carry
identifiers a client put there: they are not shredded, they expire after `error_retention_days`.
"""

from __future__ import annotations

import datetime as dt

ERROR_RETENTION_DAYS = 14  # raw error payloads are kept briefly: long enough to find and replay a bad deploy's


def retention(registry) -> dict[str, int]:
    """live table ("dataset.table") -> days, for the schemas that set an expiration."""
    out = {}
    for entry in registry:
        days = entry.metadata.expiration_policy.get("delete_after_days")
        if days:
            out[entry.live_table] = int(days)
    return out


def expire(con, tables: list[tuple[str, str]], days: dict[str, int], *, error_retention_days: int = ERROR_RETENTION_DAYS,
           now: dt.datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete (or count, dry_run) the expired rows of each (dataset, table); rows per table."""
    now = now or dt.datetime.now(dt.timezone.utc)
    done = {}
    for dataset, name in tables:
        if dataset == "payload_bytes_error":
            keep = error_retention_days
        else:
            keep = days.get(f"{dataset.removesuffix('_stable').removesuffix('_live')}_live.{name}")
        if keep is None:
            continue
        verb = "SELECT count(*) FROM" if dry_run else "DELETE FROM"
        (n,) = con.execute(f'{verb} "{dataset}"."{name}" WHERE submission_timestamp < ?',
                           [now - dt.timedelta(days=keep)]).fetchone()
        if n:
            done[f"{dataset}.{name}"] = n
    return done
