"""Cloud Logging LogEntries (Glean server-side events) become submissions: gcp-ingestion's own test
entries give the results its ParseLogEntryTest and ExtractIpFromLogEntryTest expect."""

from __future__ import annotations

import json
import shutil

import orjson
import pytest

from pingpipe.decoder.core import Decoded, Decoder, DecoderConfig
from pingpipe.decoder.steps import logentry
from pingpipe.message import RawMessage
from pingpipe.schemas.glean import generic_schema

from .data import DATA

ENTRIES = DATA / "decoder" / "logentry" if DATA is not None else None
LOGGING_TIMESTAMP = {"logging.googleapis.com/timestamp": "2023-06-28T07:29:17.075926141Z"}

# ParseLogEntryTest.testParse's expected payload, as Mozilla's test spells it out.
EXPECTED_PING = {
    "metrics": {
        "string": {
            "event.name": "reg_submit_success",
            "account.user_id_sha256": "",
            "relying_party.oauth_client_id": "",
            "relying_party.service": "sync",
            "session.device_type": "desktop",
            "session.entrypoint": "",
            "session.flow_id": "5d1eaf933f521cb2a15af909c813673ada8485d6ace8e806c57148cd7f13b30c",
            "utm.campaign": "",
            "utm.content": "",
            "utm.medium": "",
            "utm.source": "",
            "utm.term": "",
        }
    },
    "ping_info": {"seq": 2, "start_time": "2023-06-22T11:28-05:00", "end_time": "2023-06-22T11:28-05:00"},
    "client_info": {
        "telemetry_sdk_build": "1.4.0",
        "client_id": "73f5ae86-90f8-46a3-9ccc-bca902a175bf",
        "first_run_date": "2023-06-22-05:00",
        "os": "Darwin",
        "os_version": "Unknown",
        "architecture": "Unknown",
        "locale": "en-US",
        "app_build": "Unknown",
        "app_display_version": "0.0.0",
        "app_channel": "development",
    },
}


def message(name: str) -> RawMessage:
    (line,) = [line for line in (ENTRIES / f"{name}.ndjson").read_bytes().splitlines() if line.strip()]
    return RawMessage.from_line(line)


def test_a_log_entry_is_told_from_an_edge_submission_by_its_attributes():
    assert logentry.is_log_entry(dict(message("logentry").attributes))
    assert not logentry.is_log_entry({"uri": "/submit/a/b/1/x", "submission_timestamp": "2026-01-01T00:00:00.000000Z"})
    assert not logentry.is_log_entry({"uri": "/submit/a/b/1/x"})  # Mozilla's decoder fixtures carry no timestamp


def test_the_ip_address_leaves_the_entry_for_x_forwarded_for():
    m = message("logentry")
    attributes = dict(m.attributes)
    data = logentry.extract_ip(m.data, attributes)
    assert attributes == {**LOGGING_TIMESTAMP, "x_forwarded_for": "2a02:a311:803c:6300:4074:5cf2:91ac:d546"}
    original, scrubbed = orjson.loads(m.data), orjson.loads(data)
    del original["jsonPayload"]["Fields"]["ip_address"]
    assert scrubbed == original


def test_the_entry_becomes_the_ping_it_carries_with_its_submission_attributes():
    m = message("logentry")
    attributes = dict(m.attributes)
    ping = logentry.parse(logentry.extract_ip(m.data, attributes), attributes)
    assert json.loads(ping) == EXPECTED_PING
    assert attributes["submission_timestamp"] == "2023-06-28T07:29:17.288291Z"  # receiveTimestamp, in microseconds
    assert (attributes["document_namespace"], attributes["document_type"], attributes["document_version"], attributes["document_id"]) == (
        "accounts-backend",
        "accounts-events",
        "1",
        "dd99db96-941d-4894-bb97-7a2bcd65bbf5",
    )
    assert attributes["user_agent"].startswith("Mozilla/5.0 (X11; Linux x86_64")


def test_a_malformed_entry_is_refused_with_mozillas_message_and_no_ip_to_remove():
    m = message("logentry_malformed")
    attributes = dict(m.attributes)
    assert logentry.extract_ip(m.data, attributes) == m.data and attributes == LOGGING_TIMESTAMP
    with pytest.raises(logentry.InvalidLogEntry, match="^Message has no submission_timestamp but is not in a known LogEntry format$"):
        logentry.parse(m.data, attributes)


def test_a_null_ip_address_adds_no_attribute():
    m = message("logentry_null_ip")
    attributes = dict(m.attributes)
    data = logentry.extract_ip(m.data, attributes)
    assert attributes == LOGGING_TIMESTAMP
    assert "ip_address" not in orjson.loads(data)["jsonPayload"]["Fields"]


@pytest.fixture(scope="module")
def decoder(tmp_path_factory, mozilla_registry, maxmind_db):
    """Mozilla's registry fixtures plus accounts-backend/accounts-events as a Glean ping."""
    root = tmp_path_factory.mktemp("with-accounts")
    shutil.copytree(mozilla_registry, root, dirs_exist_ok=True)
    schema = generic_schema()
    schema["mozPipelineMetadata"] = {
        "bq_dataset_family": "accounts_backend",
        "bq_table": "accounts_events_v1",
        "bq_metadata_format": "structured",
    }
    folder = root / "accounts-backend" / "accounts-events"
    folder.mkdir(parents=True)
    (folder / "accounts-events.1.schema.json").write_text(json.dumps(schema))
    return Decoder.from_config(DecoderConfig(schemas=root, geoip_db=maxmind_db))


def test_the_decoder_makes_an_ordinary_row_of_it_with_no_ip_and_no_raw_user_agent(decoder):
    m = message("logentry")
    decoded = decoder.decode(m)
    assert isinstance(decoded, Decoded), decoded.message.attributes
    assert decoded.table == "accounts_backend_live.accounts_events_v1"
    assert decoded.payload["metrics"] == EXPECTED_PING["metrics"]
    assert decoded.payload["metadata"]["user_agent"]["browser"] == "Firefox"
    text = orjson.dumps([decoded.payload, decoded.attributes]).decode()
    assert "2a02:a311" not in text and "rv:85.0" not in text


def test_the_decoder_sends_a_malformed_entry_to_the_error_output_as_parse_log_entry(decoder):
    result = decoder.decode(message("logentry_malformed"))
    assert not isinstance(result, Decoded)
    attributes = result.message.attributes
    assert attributes["error_type"] == "ParseLogEntry"
    assert attributes["error_message"].endswith(
        "InvalidLogEntry: Message has no submission_timestamp but is not in a known LogEntry format"
    )


def test_an_entry_refused_later_keeps_no_ip_in_its_error_row(decoder):
    entry = orjson.loads(message("logentry").data)
    entry["jsonPayload"]["Fields"]["document_type"] = "no-such-type"
    result = decoder.decode(RawMessage(orjson.dumps(entry), dict(LOGGING_TIMESTAMP)))
    assert result.message.attributes["error_type"] == "ParsePayload"
    assert b"2a02:a311" not in result.message.data and "x_forwarded_for" not in result.message.attributes
