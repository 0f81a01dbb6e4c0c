"""Cloud Logging LogEntries (Glean server-side events) become submissions: entries made here, shaped as Cloud
Logging wraps a `glean-server-event` mozlog line (gcp-ingestion's own test entries: tests/conformance/test_logentry.py)."""

from __future__ import annotations

import json
import shutil

import orjson
import pytest

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.decoder.steps import logentry
from pingpipe.message import RawMessage
from pingpipe.schemas.glean import generic_schema

from ...fixtures import geoip

LOGGED = "2026-11-23T09:15:02.123456789Z"
RECEIVED = "2026-11-23T09:15:02.987654321Z"
LOGGING_TIMESTAMP = {"logging.googleapis.com/timestamp": LOGGED}
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
IP = "2001:db8:1a0::1"  # in the test GeoIP database: ES, AN/SE, Sevilla
PING = {
    "metrics": {"string": {"event.name": "story_saved", "reader.plan": "free"}, "quantity": {"reader.stories": 3}},
    "ping_info": {"seq": 7, "start_time": "2026-11-23T09:15+00:00", "end_time": "2026-11-23T09:15+00:00"},
    "client_info": {
        "telemetry_sdk_build": "glean_parser v17",
        "client_id": "0f6a3c1e-2b4d-4e8f-9a1c-3d5e7f9b1a2c",
        "first_run_date": "2026-11-01+00:00",
        "os": "Linux",
        "os_version": "6.8",
        "architecture": "x86_64",
        "app_build": "412",
        "app_display_version": "4.1.2",
        "app_channel": "production",
    },
}


def entry(**fields) -> dict:
    """A LogEntry as Cloud Logging writes it for one mozlog line of the news server."""
    base = {
        "document_id": "5e0c9a7b-1d3f-4b6a-8c2e-0f4a6b8d2c1e",
        "document_namespace": "news-server",
        "document_type": "events",
        "document_version": "1",
        "user_agent": UA,
        "ip_address": IP,
        "payload": json.dumps(PING),
    }
    mozlog = {
        "EnvVersion": "2.0",
        "Logger": "news-server",
        "Pid": 4242,
        "Severity": 6,
        "Type": "glean-server-event",
        "Fields": {k: v for k, v in {**base, **fields}.items() if v is not ...},
    }
    return {
        "insertId": "a1b2c3",
        "jsonPayload": mozlog,
        "logName": "projects/p/logs/stdout",
        "receiveTimestamp": RECEIVED,
        "severity": "INFO",
        "timestamp": LOGGED,
    }


def message(body: dict) -> RawMessage:
    return RawMessage(orjson.dumps(body), dict(LOGGING_TIMESTAMP))


def test_a_log_entry_is_told_from_an_edge_submission_by_its_attributes():
    assert logentry.is_log_entry(dict(message(entry()).attributes))
    assert not logentry.is_log_entry({"uri": "/submit/a/b/1/x", "submission_timestamp": "2026-01-01T00:00:00.000000Z"})
    assert not logentry.is_log_entry({"uri": "/submit/a/b/1/x"})  # an edge message without a timestamp


def test_the_ip_address_leaves_the_entry_for_x_forwarded_for():
    m = message(entry())
    attributes = dict(m.attributes)
    data = logentry.extract_ip(m.data, attributes)
    assert attributes == {**LOGGING_TIMESTAMP, "x_forwarded_for": IP}
    original, scrubbed = orjson.loads(m.data), orjson.loads(data)
    del original["jsonPayload"]["Fields"]["ip_address"]
    assert scrubbed == original


def test_an_address_already_given_is_kept_and_the_entry_left_as_it_is():
    m = message(entry())
    attributes = {**m.attributes, "x_forwarded_for": "81.2.69.160"}
    assert logentry.extract_ip(m.data, attributes) == m.data and attributes["x_forwarded_for"] == "81.2.69.160"


def test_the_entry_becomes_the_ping_it_carries_with_its_submission_attributes():
    m = message(entry(document_namespace="Org.Example.NewsServer"))
    attributes = dict(m.attributes)
    ping = logentry.parse(logentry.extract_ip(m.data, attributes), attributes)
    assert json.loads(ping) == PING
    assert attributes["submission_timestamp"] == "2026-11-23T09:15:02.987654Z"  # receiveTimestamp, in microseconds
    assert (attributes["document_namespace"], attributes["document_type"], attributes["document_version"], attributes["document_id"]) == (
        "org-example-newsserver",
        "events",
        "1",
        "5e0c9a7b-1d3f-4b6a-8c2e-0f4a6b8d2c1e",
    )
    assert attributes["user_agent"] == UA


def test_a_malformed_entry_is_refused_with_mozillas_message_and_no_ip_to_remove():
    malformed = entry()
    del malformed["jsonPayload"]["Fields"]
    m = message(malformed)
    attributes = dict(m.attributes)
    assert logentry.extract_ip(m.data, attributes) == m.data and attributes == LOGGING_TIMESTAMP
    with pytest.raises(logentry.InvalidLogEntry, match="^Message has no submission_timestamp but is not in a known LogEntry format$"):
        logentry.parse(m.data, attributes)


@pytest.mark.parametrize("missing", ["document_id", "document_namespace", "document_type", "document_version", "payload"])
def test_an_entry_without_a_field_of_the_submission_is_refused(missing):
    m = message(entry(**{missing: ...}))
    with pytest.raises(logentry.InvalidLogEntry, match="not in a known LogEntry format"):
        logentry.parse(m.data, dict(m.attributes))


def test_a_null_ip_address_adds_no_attribute():
    m = message(entry(ip_address=None, user_agent=None))
    attributes = dict(m.attributes)
    data = logentry.extract_ip(m.data, attributes)
    assert attributes == LOGGING_TIMESTAMP
    assert "ip_address" not in orjson.loads(data)["jsonPayload"]["Fields"]
    logentry.parse(data, attributes)
    assert "user_agent" not in attributes


def test_an_entry_that_is_not_json_is_an_error_row_of_its_own_type():
    with pytest.raises(logentry.InvalidLogEntry, match="could not be parsed as LogEntry JSON"):
        logentry.extract_ip(b"not json", {})


@pytest.fixture(scope="module")
def decoder(tmp_path_factory, registry_root, geoip_db):
    """The test registry plus news-server/events as a Glean ping."""
    root = tmp_path_factory.mktemp("with-news-server")
    shutil.copytree(registry_root, root, dirs_exist_ok=True)
    schema = generic_schema()
    schema["mozPipelineMetadata"] = {"bq_dataset_family": "news_server", "bq_table": "events_v1", "bq_metadata_format": "structured"}
    folder = root / "news-server" / "events"
    folder.mkdir(parents=True)
    (folder / "events.1.schema.json").write_text(json.dumps(schema))
    return Decoder.from_config(DecoderConfig(schemas=root, geoip_db=geoip_db))


def test_the_decoder_makes_an_ordinary_row_of_it_with_geo_but_no_ip_and_no_raw_user_agent(decoder):
    decoded = decoder.decode(message(entry()))
    assert isinstance(decoded, Decoded), decoded.message.attributes
    assert decoded.table == "news_server_live.events_v1"
    assert decoded.payload["metrics"] == PING["metrics"]
    assert decoded.payload["metadata"]["user_agent"]["browser"] == "Firefox"
    assert decoded.payload["metadata"]["geo"] == {
        "country": "ES",
        "subdivision1": "AN",
        "subdivision2": "SE",
        "city": "Sevilla",
        "db_version": geoip.DB_VERSION,
    }
    text = orjson.dumps([decoded.payload, decoded.attributes]).decode()
    assert "2001:db8" not in text and "rv:131" not in text


def test_the_decoder_sends_a_malformed_entry_to_the_error_output_as_parse_log_entry(decoder):
    malformed = entry()
    del malformed["jsonPayload"]["Fields"]
    result = decoder.decode(message(malformed))
    assert not isinstance(result, Decoded)
    attributes = result.message.attributes
    assert attributes["error_type"] == "ParseLogEntry"
    assert attributes["error_message"].endswith(
        "InvalidLogEntry: Message has no submission_timestamp but is not in a known LogEntry format"
    )


def test_an_entry_refused_later_keeps_no_ip_in_its_error_row(decoder):
    result = decoder.decode(message(entry(document_type="no-such-type")))
    assert result.message.attributes["error_type"] == "ParsePayload"
    assert b"2001:db8" not in result.message.data and "x_forwarded_for" not in result.message.attributes
