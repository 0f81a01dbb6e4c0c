"""Loader throughput: coercion alone vs coercion + DuckDB append, for Glean baseline rows.

    .venv/bin/python benchmarks/bench_loader.py [--rows 50000] [--batch 5000]

Input: decoded Glean baseline pings (the decoder's output, metadata included) built from the
SDK's captured baseline ping enlarged with realistic metrics, as in bench_decoder.py. The
table is the app's baseline_v1 as `pingpipe schemas glean` builds it. Figures from the same run:
coercion alone (payload bytes -> table row); coercion into Arrow, through rows and `from_pylist`
(the baseline) and straight into columns, as `pingpipe up`'s workers do; the writer's insert of
coerced rows through JSON (the baseline: the path before Arrow) and through Arrow (the default),
also with DuckDB's own checkpoint threshold and with one DuckDB thread, as `pingpipe up` runs it
(each timed up to its close, which checkpoints what is left); DuckDB alone from ready Arrow
tables (the ceiling); and the whole loader (coercion + insert, one transaction per batch).
For the enlarged ping, and for the SDK's captured baseline ping as it was sent (a narrower row).
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decoder import GLEAN, cpu, demo_schemas, geoip_db, make_input

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.gctune import tune_gc
from pingpipe.loader.arrow import arrow_schema, to_arrow
from pingpipe.loader.coerce import Coercer
from pingpipe.loader.columns import ColumnCoercer
from pingpipe.loader.load import Loader
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import RawMessage


def metrics_yaml(path: Path) -> Path:
    """Define the metrics bench_decoder's enlarged baseline ping carries, so they are columns, as in a real app."""
    common = (
        "    description: benchmark metric\n    bugs: [https://example.com/bug/1]\n"
        "    data_reviews: [https://example.com/review/1]\n    notification_emails: [nobody@example.com]\n"
        "    expires: never\n    send_in_pings: [baseline]\n"
    )
    out = ["---\n$schema: moz://mozilla.org/schemas/glean/metrics/2-0-0\n"]
    for category, prefix, kind, count in (
        ("browser.engagement", "c", "counter", 40),
        ("search.engine", "s", "string", 50),
        ("legacy.ids", "u", "uuid", 20),
        ("display", "q", "quantity", 10),
    ):
        out.append(f"{category}:\n")
        for i in range(count):
            out.append(
                f"  {prefix}{i}:\n    type: {kind}\n"
                + ("    unit: pixels\n" if kind == "quantity" else "")
                + common.replace("    ", "    ", 1)
            )
    path.write_text("".join(out))
    return path


def leaf_columns(fields: list[dict]) -> int:
    return sum(leaf_columns(f["fields"]) if f["type"] == "RECORD" else 1 for f in fields)


def plain_lines(n: int) -> list[bytes]:
    """The SDK's captured baseline ping as it was sent (fewer metrics), each with its own document id."""
    body = gzip.compress((GLEAN / "baseline-active.json").read_bytes())
    return [
        RawMessage(
            body,
            {
                "uri": f"/submit/org-demo-app/baseline/1/{uuid.uuid4()}",
                "submission_timestamp": "2026-11-23T10:00:00.123456Z",
                "x_forwarded_for": "81.2.69.160",
                "x_telemetry_agent": "Glean/71.0.0 (Python on Linux)",
            },
        ).to_line()
        for _ in range(n)
    ]


def measure(label: str, lines: list[bytes], decoder: Decoder, work: Path, batch: int) -> None:
    messages = []
    for line in lines:
        result = decoder.decode(RawMessage.from_line(line))
        assert isinstance(result, Decoded), result
        m = result.to_message()
        messages.append((m.data, m.attributes))
    loader = Loader(decoder.registry)
    ((table, (fields, _)),) = loader.batch(messages[:1]).tables.items()
    n = len(messages)
    print(
        f"{label}: {n} rows of {sum(len(d) for d, _ in messages) // n} bytes JSON into {table}, "
        f"{leaf_columns(fields)} leaf columns, batches of {batch}"
    )
    chunks = [messages[i : i + batch] for i in range(0, n, batch)]

    c0, t0 = cpu(), time.perf_counter()
    batches = [loader.batch(chunk) for chunk in chunks]
    wall, used = time.perf_counter() - t0, cpu() - c0
    assert sum(b.counts["rows"] for b in batches) == n
    print(f"  {'coercion alone':40} {n / wall:9,.0f} rows/s wall  {n / used:9,.0f} rows/s per core")

    # Into Arrow, as `pingpipe up`'s workers need it: rows then from_pylist (the baseline), or the
    # payloads straight into columns (loader/columns.py), a batch at a time, spellings learned in advance.
    payloads = [[orjson.loads(d) for d, _ in chunk] for chunk in chunks]
    coerce, schema = Coercer(fields), arrow_schema(fields)
    columns = ColumnCoercer(fields, schema)
    columns(payloads[0])
    for name, make in (
        ("coercion into Arrow, via rows (baseline)", lambda ps: to_arrow(schema, [coerce(p) for p in ps])),
        ("coercion into Arrow columns (as `up`)", columns),
    ):
        c0, t0 = cpu(), time.perf_counter()
        assert sum(len(make(ps)) for ps in payloads) == n
        wall, used = time.perf_counter() - t0, cpu() - c0
        print(f"  {name:40} {n / wall:9,.0f} rows/s wall  {n / used:9,.0f} rows/s per core")

    # Each writer is timed up to its close, which checkpoints: a larger WAL only defers that work.
    variants = [
        ("writer, via JSON (baseline)", "json", {}),
        ("writer, via Arrow, DuckDB's 16 MB ckpt", "arrow", {"checkpoint_threshold": "16MB"}),
        ("writer, via Arrow (the default)", "arrow", {}),
        ("writer, Arrow, 1 thread (as `up`)", "arrow", {"threads": 1}),
    ]
    for i, (name, how, settings) in enumerate(variants):
        writer = DuckDBWriter(work / f"{label}-{how}-{i}.duckdb", **settings)  # settings are made as it opens
        c0, t0 = cpu(), time.perf_counter()
        for b in batches:
            if how == "json":  # serialized rows take the writer's read_json path: the one before Arrow
                writer.write({t: (f, [orjson.dumps(r) for r in rows]) for t, (f, rows) in b.tables.items()})
            else:
                writer.write(b.tables)
        assert writer.query(f'SELECT count(*) FROM "{table.dataset}"."{table.table}"').fetchone()[0] == n
        writer.close()
        wall, used = time.perf_counter() - t0, cpu() - c0
        print(f"  {name:40} {n / wall:9,.0f} rows/s wall  {n / used:9,.0f} rows/s CPU (DuckDB threads included)")

    # DuckDB's own ceiling for these rows: the same insert from a ready Arrow table, built untimed
    # (timestamps as text, cast by DuckDB), so that nothing of pingpipe's is in the way.
    writer = DuckDBWriter(work / f"{label}-ready.duckdb")
    writer.ensure_table(table, fields)
    arrow_batches = [pa.Table.from_pylist([r for t in b.tables.values() for r in t[1]], schema=arrow_schema(fields)) for b in batches]
    target = f'"{table.dataset}"."{table.table}"'
    c0, t0 = cpu(), time.perf_counter()
    for arrow_batch in arrow_batches:  # registered: a locked-down DuckDB reads no Python variable by name
        writer.con.execute("BEGIN TRANSACTION")
        writer.con.register("arrow_batch", arrow_batch)
        writer.con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM arrow_batch")
        writer.con.unregister("arrow_batch")
        writer.con.execute("COMMIT")
    assert writer.query(f"SELECT count(*) FROM {target}").fetchone()[0] == n
    writer.close()
    wall, used = time.perf_counter() - t0, cpu() - c0
    print(f"  {'DuckDB alone, from ready Arrow tables':40} {n / wall:9,.0f} rows/s wall  {n / used:9,.0f} rows/s CPU (the ceiling here)")

    writer = DuckDBWriter(work / f"{label}-loader.duckdb")
    c0, t0 = cpu(), time.perf_counter()
    for chunk in chunks:
        writer.write(loader.batch(chunk).tables)
    assert writer.query(f'SELECT count(*) FROM "{table.dataset}"."{table.table}"').fetchone()[0] == n
    writer.close()
    wall, used = time.perf_counter() - t0, cpu() - c0
    print(f"  {'loader: coercion + DuckDB':40} {n / wall:9,.0f} rows/s wall  {n / used:9,.0f} rows/s CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    try:
        schemas = demo_schemas(work / "schemas", metrics_yaml(work / "metrics.yaml"))
        decoder = Decoder.from_config(DecoderConfig(schemas=schemas, geoip_db=geoip_db()))
        tune_gc()  # as the loader's Beam DoFn and `pingpipe up` do
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        measure(
            "enlarged baseline (bench_decoder's 2.6 KB gz ping)", make_input(work / "raw.ndjson", args.rows)[0], decoder, work, args.batch
        )
        measure("captured SDK baseline ping, as sent", plain_lines(args.rows), decoder, work, args.batch)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
