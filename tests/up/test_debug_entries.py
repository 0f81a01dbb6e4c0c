"""The workers' debug entries (issue 39): one only for a tag a Glean SDK can send, so no payload is
pretty-printed for a tag the viewer would not keep, and an odd tag never stops a commit."""

from __future__ import annotations

import uuid

import pytest

from pingpipe.decoder.core import DecoderConfig
from pingpipe.dictionary.debug import DebugStore
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import encode_line
from pingpipe.up import work
from pingpipe.up.commit import Committer
from tests.fixtures import SCHEMAS
from tests.up.conftest import GOOD, segment

TAGS = ["good-tag", "a/b", "x" * 21, "", "<script>"]


@pytest.fixture(scope="module", autouse=True)
def worker_state():
    work.init_worker(DecoderConfig(schemas=SCHEMAS))


def tagged(tag: str, body: bytes = GOOD) -> bytes:
    return encode_line(
        body,
        {"uri": f"/submit/eng-workflow/hgpush/1/{uuid.uuid4()}", "x_debug_id": tag, "submission_timestamp": "2026-11-23T10:00:00.000000Z"},
    )


def test_a_worker_makes_debug_entries_only_for_tags_a_glean_sdk_can_send(tmp_path):
    path = segment(tmp_path, "s1", *(tagged(t) for t in TAGS), *(tagged(t, body=b"{bad") for t in TAGS))
    result = work.process_segments([str(path)])
    assert sum(len(r) for r in result.rows.values()) == len(TAGS) and result.counts["errors"] == len(TAGS)
    assert [(e["tag"], e["valid"]) for e in result.debug] == [("good-tag", True), ("good-tag", False)]


def test_pings_with_any_tag_commit_and_only_valid_tags_reach_the_viewer(tmp_path):
    path = segment(tmp_path, "s1", *(tagged(t) for t in TAGS))
    writer = DuckDBWriter(tmp_path / "w.duckdb")
    committer = Committer(writer)
    committer.debug = DebugStore()
    counts = committer.commit(work.process_segments([str(path)]), [path])
    assert counts["rows"] == len(TAGS)
    assert [t["tag"] for t in committer.debug.tags()] == ["good-tag"]
    writer.close()
