"""Proof that deleted rows are gone from the disk, without keeping what they held.

When a shred deletes rows, every string they held of at least WINDOW bytes is recorded as keyed
hashes (HMAC-SHA256, with a key of the warehouse's own): of the whole value and of its first
WINDOW bytes, with its length and a 24-bit bucket of a rolling hash of those bytes. A value can
be recognized where it is met again, and not read back from what is kept (a bucket is far too
short to, and a keyed hash of a long value cannot be reversed).

`scan` then reads every byte of every file under a folder: a rolling hash slides over each WINDOW
bytes, a bucket hit is checked against the head's hash, then the whole value's. A hit is a place
where a deleted row's value is still written: a file and an offset. Some values are also held by
rows that were kept (the deletion request itself keeps the client's id, as the audit trail); the
caller tells those apart (`Hit.value` is what is there now, read from the file, never stored).

What a byte scan cannot see: a value DuckDB stored compressed (its dictionary and FSST
encodings), which is why pingpipe rewrites the warehouse after a deletion instead of trusting a
scan of it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

WINDOW = 16  # bytes: the shortest value recorded, and what the rolling hash covers
BUCKET_BITS = 24
_MIX = np.uint64(0x9E3779B97F4A7C15)  # spreads the rolling hash's bits before its top ones are taken
CHUNK = 4 * 1024 * 1024  # bytes of a file hashed at a time (its rolling hashes take 8 times that)
EVIDENCE = "_pingpipe.shred_evidence"
KEY = "_pingpipe.shred_key"
DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {KEY.split('.')[0]}",
    f"CREATE TABLE IF NOT EXISTS {KEY} (key BLOB, base UBIGINT)",
    f"CREATE TABLE IF NOT EXISTS {EVIDENCE} (family VARCHAR, recorded_at TIMESTAMPTZ, length INTEGER, "
    "bucket INTEGER, head_mac BLOB, value_mac BLOB)",
]


@dataclass(frozen=True)
class Keys:
    key: bytes  # of the HMACs
    base: int  # of the rolling hash: odd, 64 bits

    def mac(self, data: bytes) -> bytes:
        return hmac.new(self.key, data, hashlib.sha256).digest()

    def bucket(self, head: bytes) -> int:
        h = np.uint64(0)
        with np.errstate(over="ignore"):
            for byte in head:
                h = h * np.uint64(self.base) + np.uint64(byte)
            return int((h * _MIX) >> np.uint64(64 - BUCKET_BITS))


@dataclass(frozen=True)
class Record:
    length: int
    bucket: int
    head_mac: bytes
    value_mac: bytes


@dataclass(frozen=True)
class Hit:
    path: str
    offset: int
    value: bytes  # what the file holds there, read now


def keys(con) -> Keys:
    """The warehouse's keys, made on first use (in the caller's transaction)."""
    for sql in DDL:
        con.execute(sql)
    row = con.execute(f"SELECT key, base FROM {KEY}").fetchone()
    if row is None:
        row = (secrets.token_bytes(32), secrets.randbits(64) | 1)
        con.execute(f"INSERT INTO {KEY} VALUES (?, ?)", list(row))
    return Keys(bytes(row[0]), int(row[1]))


def strings(value) -> Iterator[str]:
    """Every string of a row's value: records, lists and maps walked."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def records_of(rows: Iterable[tuple], k: Keys, exclude: set[str] = frozenset()) -> set[Record]:
    """The records of every string of at least WINDOW bytes that the rows hold, but `exclude`'s."""
    out = set()
    for row in rows:
        for text in strings(list(row)):
            if text in exclude:
                continue
            data = text.encode("utf-8")
            if len(data) >= WINDOW:
                head = data[:WINDOW]
                out.add(Record(len(data), k.bucket(head), k.mac(head), k.mac(data)))
    return out


def record(con, family: str, rows: Iterable[tuple], exclude: set[str] = frozenset()) -> int:
    """Record the rows about to be deleted (in the caller's transaction, before the DELETE); how many
    values. `exclude`: values that stay on purpose (the deleted users' ids, which their requests keep)."""
    rows = list(rows)
    if not rows:
        return 0
    k = keys(con)
    found = records_of(rows, k, exclude)
    if found:
        con.executemany(
            f"INSERT INTO {EVIDENCE} VALUES (?, now(), ?, ?, ?, ?)", [[family, r.length, r.bucket, r.head_mac, r.value_mac] for r in found]
        )
    return len(found)


def recorded(con) -> tuple[Keys, list[Record]] | None:
    """The keys and every record, or None before any shred recorded one."""
    held = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name || '.' || table_name IN (?, ?)",
        [EVIDENCE, KEY],
    ).fetchone()[0]
    if held < 2:
        return None
    row = con.execute(f"SELECT key, base FROM {KEY}").fetchone()
    if row is None:
        return None
    records = [
        Record(n, b, bytes(h), bytes(v))
        for n, b, h, v in con.execute(f"SELECT DISTINCT length, bucket, head_mac, value_mac FROM {EVIDENCE}").fetchall()
    ]
    return Keys(bytes(row[0]), int(row[1])), records


def buckets(data: np.ndarray, base: np.uint64) -> np.ndarray:
    """The bucket of every WINDOW bytes of `data`, by position."""
    n = len(data) - WINDOW + 1
    with np.errstate(over="ignore"):
        h = data[:n].astype(np.uint64)
        for j in range(1, WINDOW):
            h = h * base + data[j : j + n]
        return ((h * _MIX) >> np.uint64(64 - BUCKET_BITS)).astype(np.int64)


def scan_file(path: Path, k: Keys, records: list[Record]) -> list[Hit]:
    """Where the file holds a recorded value: its offsets, in order."""
    bitmap = np.zeros(1 << BUCKET_BITS, dtype=bool)
    by_head: dict[bytes, list[Record]] = defaultdict(list)
    for r in records:
        bitmap[r.bucket] = True
        by_head[r.head_mac].append(r)
    hits = []
    base = np.uint64(k.base)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        start = 0
        while start < size - WINDOW + 1:
            chunk = os.pread(f.fileno(), CHUNK + WINDOW - 1, start)
            if len(chunk) < WINDOW:
                break
            data = np.frombuffer(chunk, dtype=np.uint8)
            for i in np.flatnonzero(bitmap[buckets(data, base)]):
                offset = start + int(i)
                head = chunk[i : i + WINDOW]
                for r in by_head.get(k.mac(head), ()):
                    value = os.pread(f.fileno(), r.length, offset)
                    if k.mac(value) == r.value_mac:
                        hits.append(Hit(str(path), offset, value))
            start += CHUNK
    return hits


def scan(folder: Path, k: Keys, records: list[Record], progress=None) -> Iterator[Hit]:
    """Every hit in every file under the folder (links not followed)."""
    if not records:
        return
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            if progress is not None:
                progress(path)
            try:
                yield from scan_file(path, k, records)
            except (FileNotFoundError, PermissionError):
                continue  # gone while scanning (a segment committed), or not ours
