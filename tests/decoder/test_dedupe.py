"""The one dedupe key: the same for a document's copies whichever runner reads them, before decoding or after."""

from __future__ import annotations

import json
import uuid

from pingpipe.decoder.dedupe import document_key
from pingpipe.decoder.steps.uri import document_id_of, parse_uri


def test_a_uri_names_the_id_parse_uri_gives_and_a_uri_it_refuses_names_none():
    doc = str(uuid.uuid4())
    for uri in (f"/submit/glean/baseline/1/{doc.upper()}?v=4", f"/submit/telemetry/{doc}/main/Firefox/61.0a1/nightly/20180328030202"):
        attributes = {"uri": uri}
        parse_uri(attributes)
        assert document_id_of(uri) == attributes["document_id"] == doc
    for uri in (None, "", "/elsewhere", "/submit/glean/baseline/1", f"/submit//baseline/1/{doc}", f"/submit/glean/baseline//{doc}"):
        assert document_id_of(uri) == ""


def test_the_key_of_a_copy_is_the_same_before_and_after_decoding():
    doc = str(uuid.uuid4())
    raw = {"uri": f"/submit/glean/baseline/1/{doc.upper()}"}
    decoded = {**raw, "document_id": doc}
    assert document_key(raw) == document_key(decoded) == doc
    assert document_key({"log_service": "svc", "document_id": doc}) == doc  # a log row queued as a row
    entry = json.dumps({"jsonPayload": {"Fields": {"document_id": doc.upper()}}, "receiveTimestamp": "x"}).encode()
    assert document_key({}, entry) == doc  # a LogEntry, before decoding
    assert document_key({}, b"plain text") == "" and document_key({}) == ""
