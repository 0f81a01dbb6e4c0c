"""Every MPS validation document, decoded by the real decoder, loads into DuckDB: a row in the table its
schema names or an error row, nothing lost; Mozilla's nested and map columns are queryable."""

from __future__ import annotations

import uuid

import pytest

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.loader.load import Loader
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import RawMessage
from pingpipe.schemas.registry import Registry


@pytest.fixture(scope="module")
def loaded(mozilla_registry, maxmind_db, mps_validation, tmp_path_factory):
    decoder = Decoder.from_config(DecoderConfig(schemas=mozilla_registry, geoip_db=maxmind_db))
    messages = []
    for path in sorted(mps_validation.glob("*/*.json")):
        doctype, version, *_ = path.name.split(".")
        result = decoder.decode(
            RawMessage(
                path.read_bytes(),
                {
                    "uri": f"/submit/{path.parent.name}/{doctype}/{version}/{uuid.uuid4()}",
                    "submission_timestamp": "2026-11-23T10:00:00.000000Z",
                    "remote_addr": "81.2.69.160",
                    "user_agent": "curl/8.0",
                },
            )
        )
        m = result.to_message() if isinstance(result, Decoded) else result.message
        messages.append((m.data, m.attributes))
    writer = DuckDBWriter(tmp_path_factory.mktemp("wh") / "warehouse.duckdb")
    batch = Loader(Registry.load(mozilla_registry)).batch(messages)
    writer.write(batch.tables)
    yield writer, messages, batch
    writer.close()


def count(writer, table: str) -> int:
    dataset, name = table.split(".")
    return writer.query(f'SELECT count(*) FROM "{dataset}"."{name}"').fetchone()[0]


def test_conservation_rows_plus_errors_equal_input(loaded, mps_validation):
    writer, messages, batch = loaded
    tables = [f"{d}.{n}" for d, n in writer.query("SELECT dataset, name FROM _pingpipe.tables").fetchall()]
    rows = sum(count(writer, t) for t in tables if not t.startswith("payload_bytes_error"))
    errors = sum(count(writer, t) for t in tables if t.startswith("payload_bytes_error"))
    assert rows + errors == len(messages) == 49
    assert rows == batch.counts["rows"] and errors == batch.counts["errors"]
    assert errors == len(list(mps_validation.glob("*/*.fail.json")))


def test_pings_land_in_the_tables_their_schemas_name(loaded):
    writer, _, _ = loaded
    assert count(writer, "eng_workflow_live.hgpush_v1") == 3
    assert count(writer, "activity_stream_live.impression_stats_v1") == 5


def test_mozillas_map_columns_unnest(loaded):
    writer, _, _ = loaded
    experiments = writer.query("SELECT x.key, x.value.branch FROM activity_stream_live.events_v1, UNNEST(experiments) AS t(x)").fetchall()
    assert experiments
    row = writer.query("SELECT metadata.geo.country, metadata.geo.city FROM eng_workflow_live.hgpush_v1").fetchone()
    assert row == ("GB", "London")
