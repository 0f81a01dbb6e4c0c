"""Fuzzing `up`'s data path, not only the edge: payloads of every shape and depth go through decode,
coerce and commit. Whatever arrives, in = rows + errors + duplicates, and the next segment still loads."""

from __future__ import annotations

import gzip
import json
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pingpipe.decoder.core import DecoderConfig
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.message import encode_line
from pingpipe.up import work
from pingpipe.up.commit import SEGMENTS, Committer
from tests.up.test_hardening import CLIENT_INFO, PING_INFO

DEEP = "__deep__"
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=25
)
deep = st.integers(min_value=1, max_value=1200).map(lambda depth: f"{DEEP}{depth}")
anything = values | deep
big_ints = st.integers(min_value=-(2**70), max_value=2**70)
text = st.text(max_size=120)
# Values of each metric type's own shape (the schema lets them through to coercion), or anything at all.
TYPED = {
    "counter": big_ints,
    "quantity": big_ints,
    "boolean": st.booleans(),
    "string": text,
    "text": text,
    "url": text,
    "uuid": text,
    "datetime": text,
    "object": anything,
    "string_list": st.lists(text, max_size=4),
    "labeled_counter": st.dictionaries(st.text(max_size=20), big_ints, max_size=3),
    "timing_distribution": st.fixed_dictionaries(
        {"values": st.dictionaries(st.integers(0, 10**6).map(str), big_ints, max_size=3), "sum": big_ints}
    ),
}
metric_names = st.one_of(
    st.sampled_from(["demo.launches", "demo.theme", "demo.dark_mode", "demo.button_clicks", "demo.window_width", "demo.page_load"]),
    st.from_regex(r"[a-z_][a-z0-9_.]{1,30}", fullmatch=True),
    st.text(max_size=12),
)
metric_groups = st.sampled_from(sorted(TYPED)).flatmap(
    lambda kind: st.tuples(st.just(kind), st.dictionaries(metric_names, st.one_of(TYPED[kind], TYPED[kind], anything), max_size=3))
)
metrics = st.lists(metric_groups, max_size=4).map(dict)
extras = st.one_of(st.just({}), st.just({}), st.dictionaries(st.text(max_size=10), anything, max_size=2))
ping = st.builds(
    lambda m, e, info: {"ping_info": PING_INFO, "client_info": info, "metrics": m, **e},
    metrics,
    extras,
    st.one_of(st.just(CLIENT_INFO), st.just(CLIENT_INFO), st.just(CLIENT_INFO), values),
)


def body_of(payload) -> bytes:
    """JSON text; a DEEP marker becomes arrays nested that deep (deeper than any encoder would write)."""
    text = json.dumps(payload)
    while DEEP in text:
        start = text.index(f'"{DEEP}')
        end = text.index('"', start + 1) + 1
        depth = int(text[start + 1 + len(DEEP) : end - 1])
        text = text[:start] + "[" * depth + "0" + "]" * depth + text[end:]
    return text.encode()


encodings = st.sampled_from(["plain", "plain", "plain", "gzip", "gzip", "truncated gzip", "garbage"])
message = st.tuples(ping, encodings, st.booleans())


@pytest.fixture(scope="module", autouse=True)
def worker_state():
    work.init_worker(DecoderConfig())  # the schemas that ship with pingpipe: the demo Glean app


@pytest.fixture(scope="module")
def warehouse():
    folder = Path(tempfile.mkdtemp(prefix="pingpipe-fuzz-"))
    writer = DuckDBWriter(folder / "w.duckdb")
    yield folder, writer, Committer(writer)
    writer.close()


def totals(writer: DuckDBWriter) -> tuple[int, int, int]:
    """(messages, rows, error rows) the warehouse holds."""
    messages = writer.query(f"SELECT coalesce(sum(messages), 0) FROM {SEGMENTS}").fetchone()[0]
    rows = sum(
        writer.query(f'SELECT count(*) FROM "{d}"."{t}"').fetchone()[0]
        for d, t in writer.query(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE '%\\_live' ESCAPE '\\'"
        ).fetchall()
    )
    errors = writer.query(
        "SELECT (SELECT count(*) FROM payload_bytes_error.structured) + (SELECT count(*) FROM payload_bytes_error.telemetry)"
    ).fetchone()[0]
    return messages, rows, errors


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(message, min_size=1, max_size=12))
@example(
    [({"ping_info": PING_INFO, "client_info": CLIENT_INFO, "metrics": {"object": {"demo.obj": f"{DEEP}300"}}}, "plain", False)]
)  # the README's ping with an object nested 300 deep
def test_any_payload_ends_as_a_row_an_error_row_or_a_duplicate_and_the_next_segment_loads(warehouse, messages):
    folder, writer, committer = warehouse
    before = totals(writer)
    lines, last_id = [], str(uuid.uuid4())
    for payload, encoding, repeat in messages:
        body = body_of(payload)
        if encoding == "gzip":
            body = gzip.compress(body)
        elif encoding == "truncated gzip":
            body = gzip.compress(body)[:-5]
        elif encoding == "garbage":
            body = body[::-1]
        doc_id = last_id if repeat else str(uuid.uuid4())  # a retry with the last id: a duplicate, if that one loaded
        last_id = doc_id
        lines.append(
            encode_line(body, {"uri": f"/submit/pingpipe-demo/hello/1/{doc_id}", "submission_timestamp": "2026-11-23T10:00:00.000000Z"})
        )
    path = folder / f"{uuid.uuid4()}.ndjson"
    path.write_bytes(b"".join(lines))
    counts = committer.commit(work.process_segments([str(path)]), [path])
    assert counts["messages"] == len(messages) == counts["rows"] + counts["errors"] + counts["duplicates"]
    after = totals(writer)
    assert after[0] - before[0] == len(messages)
    assert (after[1] - before[1]) + (after[2] - before[2]) == len(messages)  # duplicates are error rows too
    good = folder / f"{uuid.uuid4()}.ndjson"
    good.write_bytes(
        encode_line(
            body_of({"ping_info": PING_INFO, "client_info": CLIENT_INFO, "metrics": {}}),
            {"uri": f"/submit/pingpipe-demo/hello/1/{uuid.uuid4()}", "submission_timestamp": "2026-11-23T10:00:00.000000Z"},
        )
    )
    assert committer.commit(work.process_segments([str(good)]), [good])["rows"] == 1
