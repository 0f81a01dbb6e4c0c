"""Shredding as the warehouse grows: `pingpipe shred`'s DELETEs on DuckDB, against a full rewrite.

    .venv/bin/python benchmarks/bench_shred.py [--rows 1000000 5000000] [--tables 10] [--deleting 0.01]

A warehouse of one app: `--tables` live tables sharing the rows between them, each row a Glean-like
record (client_info.client_id, a few metrics, a JSON text), clients each with several rows, and a
deletion_request table naming `--deleting` of the clients. Timed: the shred (one transaction, as
`up`'s daily cycle runs it) and then a checkpoint, which is when DuckDB writes the change to the
file. Baseline in the same run: rewriting every table without those clients (CREATE TABLE AS
SELECT), what a shred that rewrote whole tables would cost.
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

from pingpipe.privacy.shred import shred

CLIENT = {"name": "client_info", "type": "RECORD", "mode": "NULLABLE",
          "fields": [{"name": "client_id", "type": "STRING", "mode": "NULLABLE"}]}


def build(path: Path, rows: int, tables: int, deleting: float) -> dict:
    con = duckdb.connect(str(path))
    clients = max(100, rows // 20)
    per_table = rows // tables
    con.execute("CREATE SCHEMA app_live")
    fields = {}
    for t in range(tables):
        ids = pa.array([f"client-{(i * 7919 + t) % clients:08d}" for i in range(per_table)])
        table = pa.table({
            "client_info": pa.StructArray.from_arrays([ids], names=["client_id"]),
            "document_id": pa.array([f"doc-{t}-{i}" for i in range(per_table)]),
            "n": pa.array(range(per_table), pa.int64()),
            "extra": pa.array(['{"metrics": {"counter": {"a": 1}}}'] * per_table),
        })
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--deleting", type=float, default=0.01)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, DuckDB {duckdb.__version__}; "
          f"{args.tables} tables, {args.deleting:.0%} of clients deleting")
    for rows in args.rows:
        work = Path(tempfile.mkdtemp(prefix="bench-shred-"))
        try:
            fields = build(work / "w.duckdb", rows, args.tables, args.deleting)
            size = (work / "w.duckdb").stat().st_size
            con = duckdb.connect(str(work / "w.duckdb"))
            t0 = time.perf_counter()
            con.execute("BEGIN TRANSACTION")
            report = shred(con, fields)
            con.execute("COMMIT")
            t1 = time.perf_counter()
            con.execute("CHECKPOINT")
            t2 = time.perf_counter()
            gone = sum(report["rows"].values())
            con.close()
            shutil.copy(work / "w.duckdb", work / "before.duckdb")  # (already shredded: the rewrite's timing is the point)
            con = duckdb.connect(str(work / "before.duckdb"))
            t3 = time.perf_counter()
            for (_, name) in fields:
                if name.startswith("ping"):
                    con.execute(f"CREATE TABLE app_live.{name}_rewritten AS SELECT * FROM app_live.{name} WHERE "
                                "client_info.client_id NOT IN (SELECT client_info.client_id FROM app_live.deletion_request_v1)")
            con.execute("CHECKPOINT")
            t4 = time.perf_counter()
            con.close()
            print(f"{rows:>10,} rows ({size / 2**20:,.0f} MiB): shred {t1 - t0:6.2f} s + checkpoint {t2 - t1:5.2f} s, "
                  f"{gone:,} rows deleted | baseline, rewriting every table: {t4 - t3:6.2f} s")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
