"""Shredding as the warehouse grows: `pingpipe shred`'s DELETEs on DuckDB, against a full rewrite.

    .venv/bin/python benchmarks/bench_shred.py [--rows 1000000 5000000] [--tables 10] [--deleting 0.01]

A warehouse of one app: `--tables` live tables sharing the rows between them, each row a Glean-like
record (client_info.client_id, a document id, a number, a JSON text of ~140 bytes), its strings
stored uncompressed so that a byte count sees them, clients each with several rows, and a
deletion_request table naming `--deleting` of the clients. Timed, on copies of one file: the
logical delete pingpipe did before (the shred's DELETEs in one transaction, then a checkpoint,
when DuckDB writes the change to the file), the same-run baseline; and what a shred is now: the
DELETEs with the evidence `audit --deep` looks for, then the whole file rewritten without the
deleted rows' bytes (DuckDBWriter.purge). For each, how many of a sample of the deleted rows'
unique values (a session id in their JSON) the file still holds as bytes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.privacy.shred import shred

CLIENT = {
    "name": "client_info",
    "type": "RECORD",
    "mode": "NULLABLE",
    "fields": [{"name": "client_id", "type": "STRING", "mode": "NULLABLE"}],
}


def build(path: Path, rows: int, tables: int, deleting: float) -> dict:
    con = duckdb.connect(str(path))
    # Strings stored as they are, so that counting a deleted row's bytes in the file can see them
    # (DuckDB's FSST and dictionary encodings would hide most from a byte count, not from a reader).
    con.execute("SET disabled_compression_methods = 'fsst,dict_fsst,dictionary'")
    clients = max(100, rows // 20)
    per_table = rows // tables
    con.execute("CREATE SCHEMA app_live")
    fields = {}
    for t in range(tables):
        ids = pa.array([f"client-{(i * 7919 + t) % clients:08d}" for i in range(per_table)])
        table = pa.table(
            {
                "client_info": pa.StructArray.from_arrays([ids], names=["client_id"]),
                "document_id": pa.array([f"doc-{t}-{i}" for i in range(per_table)]),
                "n": pa.array(range(per_table), pa.int64()),
                "extra": pa.array(
                    [
                        f'{{"metrics": {{"counter": {{"a": {i}}}, "string": {{"session": "{i * 2654435761 % 2**32:08x}'
                        f'-{t:04x}-4000-8000-{i:012x}", "locale": "en-US"}}}}, "ping_info": {{"seq": {i % 977}}}}}'
                        for i in range(per_table)
                    ]
                ),
            }
        )
        con.register("rows", table)
        con.execute(f"CREATE TABLE app_live.ping{t}_v1 AS SELECT * FROM rows")
        con.unregister("rows")
        fields[("app_live", f"ping{t}_v1")] = [CLIENT]
    deleted = [f"client-{i:08d}" for i in range(0, clients, int(1 / deleting))]
    con.register("req", pa.table({"client_info": pa.StructArray.from_arrays([pa.array(deleted)], names=["client_id"])}))
    con.execute("CREATE TABLE app_live.deletion_request_v1 AS SELECT * FROM req")
    fields[("app_live", "deletion_request_v1")] = [CLIENT]
    con.execute("CREATE SCHEMA _pingpipe")
    con.execute("CHECKPOINT")
    con.close()
    return fields


def residue(path: Path, needles: list[bytes]) -> int:
    """How many times the file holds the sampled values of deleted rows, as bytes."""
    data = path.read_bytes()
    return sum(data.count(n) for n in needles)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--deleting", type=float, default=0.01)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}; "
        f"{args.tables} tables, {args.deleting:.0%} of clients deleting"
    )
    for rows in args.rows:
        work = Path(tempfile.mkdtemp(prefix="bench-shred-"))
        try:
            fields = build(work / "base.duckdb", rows, args.tables, args.deleting)
            size = (work / "base.duckdb").stat().st_size
            con = duckdb.connect(str(work / "base.duckdb"), read_only=True)
            needles = [
                r[0].encode()
                for r in con.execute(  # fixed-width, unique: never inside another row's
                    "SELECT json_extract_string(extra, '$.metrics.string.session') AS s FROM app_live.ping0_v1 WHERE "
                    "client_info.client_id IN (SELECT client_info.client_id FROM app_live.deletion_request_v1) "
                    "ORDER BY hash(s) LIMIT 200"
                ).fetchall()
            ]
            con.close()
            before = residue(work / "base.duckdb", needles)

            # Baseline, same run: the logical delete pingpipe did before (DELETE, then a checkpoint).
            shutil.copy(work / "base.duckdb", work / "logical.duckdb")
            con = duckdb.connect(str(work / "logical.duckdb"))
            t0 = time.perf_counter()
            con.execute("BEGIN TRANSACTION")
            report = shred(con, fields)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            logical = time.perf_counter() - t0
            con.close()
            gone = sum(report["rows"].values())
            left_logical = residue(work / "logical.duckdb", needles)

            # Now: the same shred (with its evidence for the deep audit), then the file rewritten (purge).
            shutil.copy(work / "base.duckdb", work / "w.duckdb")
            writer = DuckDBWriter(work / "w.duckdb")
            t0 = time.perf_counter()
            with writer.transaction() as tx:
                shred(tx, fields)
                writer.mark_purge(tx, "shred")
            t1 = time.perf_counter()
            after = writer.purge()
            t2 = time.perf_counter()
            writer.close()
            left_purged = residue(work / "w.duckdb", needles)
            print(
                f"{rows:>10,} rows ({size / 2**20:,.0f} MiB), {gone:,} deleted: logical delete + checkpoint {logical:6.2f} s, "
                f"{left_logical}/{before} sampled values left | shred {t1 - t0:6.2f} s + purge {t2 - t1:6.2f} s = "
                f"{t2 - t0:6.2f} s ({(t2 - t0) / logical:.1f}x), {after / 2**20:,.0f} MiB, {left_purged}/{before} left",
                flush=True,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
