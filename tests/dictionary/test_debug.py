"""The debug viewer's store: pings with a tag a Glean SDK can send, the last N per tag, for at most a day,
within a bound in bytes and in tags."""

from __future__ import annotations

import gzip
import sys
import tracemalloc

import orjson
import pytest

from pingpipe.dictionary.debug import MAX_SHOWN_BYTES, DebugConfig, DebugStore, entry, valid_tag

ATTRS = {
    "x_debug_id": "my-tag",
    "submission_timestamp": "2026-11-29T10:00:00Z",
    "document_namespace": "app",
    "document_type": "hello",
    "document_version": "1",
}


def ok(doc_id: str, tag: str = "my-tag") -> dict:
    return entry({**ATTRS, "x_debug_id": tag, "document_id": doc_id}, {"n": 1})


def test_untagged_messages_make_no_entry():
    assert entry({k: v for k, v in ATTRS.items() if k != "x_debug_id"}, {"n": 1}) is None


def test_an_error_entry_shows_the_body_as_sent_gunzipped_and_its_message():
    body = gzip.compress(orjson.dumps({"metrics": {"counter": {"a": "x"}}}))
    e = entry(
        {
            "x_debug_id": "t",
            "uri": "/submit/app/hello/1/abc",
            "error_type": "ParsePayload",
            "error_message": "SchemaValidationError: not an integer",
        },
        error=body,
    )
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


# The bounds of issue 39: any client can tag its pings, so what the viewer keeps is bounded in tags and bytes.


def big(doc_id: str, tag: str = "my-tag", chars: int = 100_000) -> dict:
    """An entry whose pretty payload is about `chars` characters."""
    return entry({**ATTRS, "x_debug_id": tag, "document_id": doc_id}, {"text": "x" * chars})


@pytest.mark.parametrize(
    "tag", ["a/b", "a" * 21, "my tag", " my-tag", "my-tag\n", "my_tag", "tést", "標籤", "<script>", "a?b#c", "", "../x"]
)
def test_a_tag_no_glean_sdk_can_send_makes_no_entry(tag):
    assert not valid_tag(tag)
    assert entry({**ATTRS, "x_debug_id": tag}, {"n": 1}) is None
    assert entry({**ATTRS, "x_debug_id": tag}, error=b"{}") is None


@pytest.mark.parametrize("tag", ["my-tag", "a" * 20, "-", "ABC-123-def", "0"])
def test_a_tag_of_letters_digits_and_dashes_up_to_20_makes_an_entry(tag):
    assert valid_tag(tag)
    assert entry({**ATTRS, "x_debug_id": tag}, {"n": 1})["tag"] == tag


def test_the_store_stays_under_its_byte_bound_evicting_the_oldest_first_across_tags():
    store = DebugStore(DebugConfig(max_bytes=1024 * 1024))
    store.add([big(str(i), tag=f"t{i % 3}") for i in range(30)])
    kept = sorted(int(p["document_id"]) for t in store.tags() for p in store.pings(t["tag"]))
    status = store.status()
    assert status["bytes"] <= 1024 * 1024
    assert sum(len(p["payload"]) for t in store.tags() for p in store.pings(t["tag"])) <= 1024 * 1024
    assert kept == list(range(30 - len(kept), 30)) and len(kept) >= 9  # the newest, and no fewer than fit
    assert status["evicted"] == 30 - len(kept) and status["pings"] == len(kept)


def test_the_store_s_memory_as_tracemalloc_measures_it_stays_near_its_byte_bound():
    """300 large pings, each with its own tag (the issue's experiment, smaller): held memory stays bounded."""
    bound = 2 * 1024 * 1024
    tracemalloc.start()
    try:
        store = DebugStore(DebugConfig(max_bytes=bound))
        for i in range(300):
            store.add([big(str(i), tag=f"tag-{i}", chars=50_000)])
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < bound * 1.25, f"{held / 2**20:.1f} MiB held for a bound of {bound / 2**20:.0f} MiB"
    assert store.status()["evicted"] > 250


def test_the_store_keeps_at_most_max_tags_dropping_the_tag_longest_silent():
    store = DebugStore(DebugConfig(max_tags=3))
    store.add([ok("1", tag="a"), ok("2", tag="a"), ok("3", tag="b"), ok("4", tag="c")], now=1000.0)
    store.add([ok("5", tag="a")], now=1001.0)  # a is the newest again: b is now the one longest silent
    store.add([ok("6", tag="d")], now=1002.0)
    assert {t["tag"] for t in store.tags(now=1003.0)} == {"a", "c", "d"}
    assert [p["document_id"] for p in store.pings("a", now=1003.0)] == ["5", "2", "1"]
    assert store.status()["evicted"] == 1 and store.status()["evicted_since"] == 1002.0


def test_a_flood_of_distinct_tags_keeps_only_the_newest_max_tags():
    store = DebugStore(DebugConfig(max_tags=100))
    store.add([ok(str(i), tag=f"flood-{i}") for i in range(5000)])
    assert {t["tag"] for t in store.tags()} == {f"flood-{i}" for i in range(4900, 5000)}
    assert store.status() | {"bytes": 0} == {
        "bytes": 0,
        "tags": 100,
        "pings": 100,
        "evicted": 4900,
        "evicted_since": store.status()["evicted_since"],
    }


def test_pings_past_the_per_tag_cap_or_the_max_age_free_their_bytes_and_are_not_counted_as_evicted():
    store = DebugStore(DebugConfig(per_tag=2, max_age=60))
    store.add([big(str(i)) for i in range(10)], now=1000.0)
    two = store.status()["bytes"]
    assert store.status()["pings"] == 2 and 2 * 100_000 < two < 2 * 101_000 + 2000
    store.tags(now=1100.0)
    assert store.status() == {"bytes": 0, "tags": 0, "pings": 0, "evicted": 0, "evicted_since": None}


def test_a_ping_larger_than_the_whole_bound_is_not_kept():
    store = DebugStore(DebugConfig(max_bytes=50_000))
    store.add([ok("small"), big("huge")])
    assert [p["document_id"] for p in store.pings("my-tag")] == ["small"]
    assert store.status()["evicted"] == 1


def test_a_cut_ascii_payload_is_held_at_one_byte_a_character():
    """A non-ASCII mark on the cut would make Python hold the whole text at 2 bytes a character."""
    e = big("cut", chars=MAX_SHOWN_BYTES * 2)
    assert e["payload"].endswith("(cut)") and len(e["payload"]) > MAX_SHOWN_BYTES
    assert sys.getsizeof(e["payload"]) < len(e["payload"]) + 100
