"""The debug viewer's store: tagged pings only, the last N per tag, for at most a day."""

from __future__ import annotations

import gzip

import orjson

from pingpipe.dictionary.debug import DebugConfig, DebugStore, entry

ATTRS = {"x_debug_id": "my-tag", "submission_timestamp": "2026-11-29T10:00:00Z", "document_namespace": "app",
         "document_type": "hello", "document_version": "1"}


def ok(doc_id: str, tag: str = "my-tag") -> dict:
    return entry({**ATTRS, "x_debug_id": tag, "document_id": doc_id}, {"n": 1})


def test_untagged_messages_make_no_entry():
    assert entry({k: v for k, v in ATTRS.items() if k != "x_debug_id"}, {"n": 1}) is None


def test_an_error_entry_shows_the_body_as_sent_gunzipped_and_its_message():
    body = gzip.compress(orjson.dumps({"metrics": {"counter": {"a": "x"}}}))
    e = entry({"x_debug_id": "t", "uri": "/submit/app/hello/1/abc", "error_type": "ParsePayload",
               "error_message": "SchemaValidationError: not an integer"}, error=body)
    assert not e["valid"] and e["error_type"] == "ParsePayload" and "not an integer" in e["error_message"]
    assert (e["namespace"], e["doctype"], e["version"], e["document_id"]) == ("app", "hello", "1", "abc")
    assert orjson.loads(e["payload"]) == {"metrics": {"counter": {"a": "x"}}}


def test_a_body_that_is_not_json_is_shown_as_text():
    e = entry({"x_debug_id": "t", "uri": "/nope"}, error=b"\xff\xfenot json")
    assert "not json" in e["payload"] and e["doctype"] is None


def test_the_store_keeps_the_last_n_per_tag_newest_first():
    store = DebugStore(DebugConfig(per_tag=3))
    store.add([ok(str(i)) for i in range(5)] + [ok("x", tag="other")])
    assert [e["document_id"] for e in store.pings("my-tag")] == ["4", "3", "2"]
    assert {t["tag"]: t["pings"] for t in store.tags()} == {"my-tag": 3, "other": 1}


def test_entries_older_than_the_max_age_are_forgotten():
    store = DebugStore(DebugConfig(max_age=60))
    store.add([ok("old")], now=1000.0)
    store.add([ok("new")], now=1050.0)
    assert [e["document_id"] for e in store.pings("my-tag", now=1070.0)] == ["new"]
    assert store.tags(now=2000.0) == []


def test_a_ping_that_decoded_then_failed_to_load_shows_once_with_its_error():
    store = DebugStore()
    failed = entry({**ATTRS, "document_id": "d", "error_type": "Load", "error_message": "too deep"}, error=b"{}")
    store.add([ok("d")])
    store.add([failed])
    (only,) = store.pings("my-tag")
    assert only["error_type"] == "Load"
