"""The deep audit's evidence: a deleted row's values recorded as keyed hashes, found again in any file
at their offsets, and nothing else found; what is stored cannot be read back as the value."""

from __future__ import annotations

import os

import duckdb

from pingpipe.privacy import evidence


def test_a_recorded_value_is_found_in_any_file_at_its_offset_and_others_are_not(tmp_path):
    con = duckdb.connect()
    rows = [({"client_id": "c-1"}, "a value long enough to record", {"labels": ["short", "another long one, in a list"]})]
    assert evidence.record(con, "app", rows, exclude={"c-1"}) == 2  # "short" and the id are not recorded
    keys, records = evidence.recorded(con)
    blob = os.urandom(5_000_000)
    placed = {1234: b"a value long enough to record", 4_194_300: b"another long one, in a list"}  # one across chunks
    data = bytearray(blob)
    for offset, value in placed.items():
        data[offset : offset + len(value)] = value
    data[3_000_000 : 3_000_000 + 20] = b"a value long enough "  # its head, not the whole value: no trace
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file.bin").write_bytes(bytes(data))
    (tmp_path / "clean.bin").write_bytes(blob)
    hits = list(evidence.scan(tmp_path, keys, records))
    assert [(os.path.basename(h.path), h.offset, h.value) for h in hits] == [
        ("file.bin", offset, value) for offset, value in sorted(placed.items())
    ]


def test_what_is_kept_is_hashes_with_a_key_not_the_values():
    con = duckdb.connect()
    evidence.record(con, "app", [("a secret string of 36 characters...",)])
    stored = b"".join(
        bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else str(v).encode()
        for row in con.execute(f"SELECT * FROM {evidence.EVIDENCE}").fetchall()
        for v in row
    )
    assert b"secret" not in stored
    keys, (record,) = evidence.recorded(con)
    other = evidence.Keys(os.urandom(32), keys.base)
    assert other.mac(b"a secret string of 36 characters...") != record.value_mac  # without the key, no match


def test_the_rolling_bucket_of_every_window_is_the_bucket_of_that_window_alone():
    keys = evidence.Keys(b"k" * 32, 0x1234567 | 1)
    data = os.urandom(200)
    import numpy as np

    buckets = evidence.buckets(np.frombuffer(data, dtype=np.uint8), np.uint64(keys.base))
    assert [int(b) for b in buckets] == [keys.bucket(data[i : i + evidence.WINDOW]) for i in range(len(data) - evidence.WINDOW + 1)]
