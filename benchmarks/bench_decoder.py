"""Decoder throughput, per core: the pure step functions vs the whole Beam pipeline (DirectRunner).

    .venv/bin/python benchmarks/bench_decoder.py [--messages 50000]

Input: Glean baseline pings of about 3 KB gzipped (the SDK's captured baseline ping, enlarged
with realistic metrics), each with its own document id, as raw-message file lines, sent from a
real address (geo-IP lookup) by a real user agent. Both paths do the same work per ping: parse
the line, geo, URI, gunzip, JSON + schema validation, user agent, normalize, metadata, and
serialize the decoded line; the Beam path also deduplicates (GroupByKey) and writes files.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from functools import cache
from pathlib import Path

import apache_beam as beam
import orjson
from apache_beam.options.pipeline_options import PipelineOptions
from click.testing import CliRunner

from pingpipe import jsontext
from pingpipe.cli import main as cli
from pingpipe.decoder.build import build_pipeline
from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.decoder.io import ReadRaw, WriteRaw, parse_input, parse_output
from pingpipe.decoder.pipeline import bucket_key
from pingpipe.gctune import tune_gc
from pingpipe.message import RawMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its own test data (tests/fixtures)
from tests.fixtures import GLEAN, geoip


@cache
def geoip_db() -> Path:
    """The tests' own City database (tests/fixtures/geoip.py), written once into a temporary folder."""
    return geoip.write_city_db(Path(tempfile.mkdtemp(prefix="bench-geoip-")) / "City-Test.mmdb")


def demo_schemas(out: Path, *extra_metrics: Path) -> Path:
    """`pingpipe schemas glean` for the captured app's definitions (plus any extra metrics.yaml)."""
    args = ["schemas", "glean", "--app-id", "Org.Demo_App", "--metrics", str(GLEAN / "metrics.yaml")]
    for path in extra_metrics:
        args += ["--metrics", str(path)]
    r = CliRunner().invoke(cli, [*args, "--pings", str(GLEAN / "pings.yaml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def baseline_ping(rng: random.Random) -> bytes:
    ping = json.loads((GLEAN / "baseline-active.json").read_text())
    metrics = ping.setdefault("metrics", {})
    metrics.setdefault("counter", {}).update({f"browser.engagement.c{i}": rng.randint(0, 10**6) for i in range(40)})
    metrics.setdefault("string", {}).update({f"search.engine.s{i}": uuid.UUID(int=rng.getrandbits(128)).hex for i in range(50)})
    metrics.setdefault("uuid", {}).update({f"legacy.ids.u{i}": str(uuid.UUID(int=rng.getrandbits(128))) for i in range(20)})
    metrics.setdefault("labeled_counter", {})["glean.error.invalid_value"] = {f"metric.l{i}": rng.randint(1, 9) for i in range(15)}
    metrics.setdefault("timespan", {})["glean.baseline.duration"] = {"time_unit": "second", "value": rng.randint(1, 5000)}
    metrics.setdefault("quantity", {}).update({f"display.q{i}": rng.randint(0, 4000) for i in range(10)})
    return gzip.compress(json.dumps(ping).encode())


def make_input(path: Path, n: int) -> tuple[list[bytes], int]:
    rng = random.Random(7)
    bodies = [baseline_ping(rng) for _ in range(64)]
    lines = []
    for i in range(n):
        lines.append(
            RawMessage(
                bodies[i % 64],
                {
                    "uri": f"/submit/org-demo-app/baseline/1/{uuid.UUID(int=rng.getrandbits(128))}",
                    "submission_timestamp": "2026-11-23T10:00:00.123456Z",
                    "x_forwarded_for": "81.2.69.160, 10.0.0.1, 10.0.0.2",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                    "date": "Mon, 23 Nov 2026 10:00:00 GMT",
                    "x_telemetry_agent": "Glean/71.0.0 (Python on Linux)",
                },
            ).to_line()
        )
    path.write_bytes(b"".join(lines))
    return lines, sum(len(b) for b in bodies) // len(bodies)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-decoder-"))
    try:
        schemas = demo_schemas(work / "schemas")
        source = work / "raw.ndjson"
        lines, gz_size = make_input(source, args.messages)
        config = DecoderConfig(schemas=schemas, geoip_db=geoip_db())
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"{args.messages} Glean baseline pings, {gz_size} bytes gzipped each"
        )

        decoder = Decoder.from_config(config)
        tune_gc()  # as the decoder's Beam DoFn does: both paths run with the same collector settings
        decoded = 0
        c0, t0 = cpu(), time.perf_counter()
        for line in lines:
            result = decoder.decode(RawMessage.from_line(line))
            if isinstance(result, Decoded):
                result.to_message().to_line()
                decoded += 1
        pure_wall, pure_cpu = time.perf_counter() - t0, cpu() - c0
        assert decoded == len(lines), decoder.counts
        print(
            f"{'pure step functions (one loop)':40} {len(lines) / pure_wall:9,.0f} pings/s wall  "
            f"{len(lines) / pure_cpu:9,.0f} pings/s per core"
        )
        texts = [gzip.decompress(RawMessage.from_line(line).data) for line in lines[:64]] * max(1, len(lines) // 64)
        for name, loads in (("orjson.loads (baseline)", orjson.loads), ("jsontext.loads (integers exact)", jsontext.loads)):
            c0 = cpu()
            for text in texts:
                loads(text)
            print(f"{'  JSON parse: ' + name:40} {1e6 * (cpu() - c0) / len(texts):9.2f} us/ping")

        pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"]))
        build_pipeline(pipeline, config, f"file:{source}", f"file:{work}/out", f"file:{work}/err")
        c0, t0 = cpu(), time.perf_counter()
        pipeline.run().wait_until_finish()
        beam_wall, beam_cpu = time.perf_counter() - t0, cpu() - c0
        out = sum(len(p.read_bytes().splitlines()) for p in work.glob("out-*"))
        errors = sum(len(p.read_bytes().splitlines()) for p in work.glob("err-*"))
        assert out == len(lines) and errors == 0, (out, errors)
        print(
            f"{'Beam DirectRunner, file -> file':40} {len(lines) / beam_wall:9,.0f} pings/s wall  "
            f"{len(lines) / beam_cpu:9,.0f} pings/s per core"
        )
        print(f"Beam overhead: {beam_cpu / pure_cpu:.2f}x the CPU of the pure core (goal <= 2x)")

        # The same pipeline with its SDK harness in two worker processes (Fn API over gRPC, as on
        # Dataflow Runner v2): what a second core buys, and what the process boundary costs.
        pipeline = beam.Pipeline(
            options=PipelineOptions(["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
        )
        build_pipeline(pipeline, config, f"file:{source}", f"file:{work}/mp-out", f"file:{work}/mp-err")
        t0 = time.perf_counter()
        pipeline.run().wait_until_finish()
        mp_wall = time.perf_counter() - t0
        assert sum(len(p.read_bytes().splitlines()) for p in work.glob("mp-out-*")) == len(lines)
        print(
            f"{'Beam, 2 SDK worker processes':40} {len(lines) / mp_wall:9,.0f} pings/s wall  "
            f"({beam_wall / mp_wall:.2f}x the DirectRunner in one process)"
        )

        # The DaskRunner on a local dask.distributed cluster of two worker processes (decoder/ondask.py).
        from apache_beam.runners.dask.dask_runner import DaskOptions
        from distributed import LocalCluster

        from pingpipe.decoder import ondask

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            ranges = ondask.input_ranges(parse_input(f"file:{source}"))
            options = PipelineOptions(["--runner", ondask.RUNNER, "--dask_client_address", cluster.scheduler_address])
            options.view_as(DaskOptions).npartitions = len(ranges)
            pipeline = beam.Pipeline(options=options)
            ondask.build(
                pipeline,
                config,
                ranges,
                {"decoded": parse_output(f"file:{work}/dask-out"), "errors": parse_output(f"file:{work}/dask-err")},
            )
            t0 = time.perf_counter()
            result = pipeline.run()
            result.wait_until_finish()
            dask_wall = time.perf_counter() - t0
            result.client.close()
        assert sum(len(p.read_bytes().splitlines()) for p in work.glob("dask-out-*")) == len(lines)
        print(
            f"{'Beam DaskRunner, 2 worker processes':40} {len(lines) / dask_wall:9,.0f} pings/s wall  "
            f"({beam_wall / dask_wall:.2f}x the DirectRunner in one process; {len(ranges)} partitions)"
        )

        # Beam's own share: the same read -> key by bucket -> GroupByKey -> write, with each
        # ping's decoded line already made (no decoding at all). Exact batch dedupe needs the shuffle.
        line = decoder.decode(RawMessage.from_line(lines[0])).to_message().to_line(newline=False)
        pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"]))
        raw = pipeline | ReadRaw(parse_input(f"file:{source}"))
        (
            raw
            | beam.Map(bucket_key)
            | beam.GroupByKey()
            | beam.FlatMap(lambda keyed: [line for _ in keyed[1]])
            | WriteRaw(parse_output(f"file:{work}/bare"), "Bare")
        )
        c0 = cpu()
        pipeline.run().wait_until_finish()
        bare_cpu = cpu() - c0
        assert sum(len(p.read_bytes().splitlines()) for p in work.glob("bare-*")) == len(lines)
        print(f"{'Beam alone, decode replaced by a constant':40} {'':26} {len(lines) / bare_cpu:9,.0f} pings/s per core")
        print(
            f"Beam's own CPU per ping is {bare_cpu / pure_cpu:.2f}x the whole pure core's: with decoding at the pure "
            f"loop's cost, the floor is {(bare_cpu + pure_cpu) / pure_cpu:.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
