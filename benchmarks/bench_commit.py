"""`pingpipe up`'s commit path as the warehouse grows: CPU per row, and the longest commit.

    .venv/bin/python benchmarks/bench_commit.py [--rows 500000] [--segment 1250]

Input: the wide Glean baseline pings of bench_up.py (2.6 KB gzipped, a 210-column table),
decoded and coerced once by `up`'s worker code into results of --segment pings each (1,250:
0.25 s of the edge's output at 5K pings/s). Each result is committed by `up`'s Committer, as
`up` does (dedupe, rows + segment mark in one transaction, one DuckDB thread), with fresh
document ids, until --rows rows are in. Reported per 100K rows: the committing thread's CPU per
row (DuckDB runs in it: one thread), and the longest commit (a checkpoint inside a COMMIT).
The same run three times: pingpipe's settings (row groups of 32,768 rows, a checkpoint after
128 MB of WAL); a checkpoint after 256 MB; and DuckDB's default row groups of 122,880 rows with
256 MB, pingpipe's settings before (the baseline).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decoder import demo_schemas, make_input
from bench_loader import metrics_yaml

from pingpipe.decoder.core import DecoderConfig
from pingpipe.gctune import tune_gc
from pingpipe.loader.writers import duckdb as duckdb_writer
from pingpipe.message import RawMessage
from pingpipe.up import work as up_work
from pingpipe.up.commit import Committer
from pingpipe.up.config import UpConfig

WINDOW = 100_000


def run(results: list, rows: int, path: Path, row_group_size: int, checkpoint: str) -> list[tuple[float, float]]:
    """(CPU us/row, longest commit in s) per WINDOW rows."""
    duckdb_writer.ROW_GROUP_SIZE = row_group_size  # read when the file is attached
    writer = duckdb_writer.DuckDBWriter(path, threads=UpConfig.duckdb_threads, checkpoint_threshold=checkpoint)  # as `up` opens it
    committer = Committer(writer)
    windows, used, longest, done, start, k = [], 0.0, 0.0, 0, 0, 0
    while done < rows:
        result = results[k % len(results)]
        result.names = [f"segment-{k}"]
        for table_rows in result.rows.values():
            table_rows.ids = [str(uuid.uuid4()) for _ in table_rows.ids]
        c0, t0 = time.thread_time(), time.perf_counter()
        counts = committer.commit(result, [])
        used += time.thread_time() - c0
        longest = max(longest, time.perf_counter() - t0)
        assert counts["rows"] == len(next(iter(result.rows.values()))) and not counts["duplicates"], counts
        done += counts["rows"]
        k += 1
        if done - start >= WINDOW or done >= rows:
            windows.append((used / (done - start) * 1e6, longest))
            used, longest, start = 0.0, 0.0, done
    writer.close()
    return windows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--segment", type=int, default=1250)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-commit-"))
    try:
        schemas = demo_schemas(work / "schemas", metrics_yaml(work / "metrics.yaml"))
        lines, _ = make_input(work / "raw.ndjson", 5000)
        up_work.init_worker(DecoderConfig(schemas=schemas))
        decoder, loader = up_work._state["decoder"], up_work._state["loader"]
        results = []
        for i in range(0, len(lines), args.segment):
            result = up_work.SegmentResult(["bench"])
            up_work.process_messages((RawMessage.from_line(line) for line in lines[i : i + args.segment]), result, decoder, loader)
            results.append(result)
        tune_gc()  # as `up` does
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"{args.rows:,} wide Glean rows committed {args.segment:,} at a time by `up`'s Committer"
        )
        ours = (duckdb_writer.ROW_GROUP_SIZE, duckdb_writer.DuckDBWriter.CHECKPOINT_THRESHOLD)
        for label, size, checkpoint in (
            ("pingpipe's: row groups of 32,768, ckpt 128MB", *ours),
            ("row groups of 32,768, ckpt 256MB", 32_768, "256MB"),
            ("DuckDB's 122,880-row groups, ckpt 256MB", 122_880, "256MB"),
        ):
            figures = run(results, args.rows, work / f"w-{size}-{checkpoint}.duckdb", size, checkpoint)
            print(
                f"  {label:46} CPU us/row per {WINDOW // 1000}K rows: "
                + " ".join(f"{us:5.1f}" for us, _ in figures)
                + f"   longest commit per {WINDOW // 1000}K rows (s): "
                + " ".join(f"{worst:.2f}" for _, worst in figures)
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
