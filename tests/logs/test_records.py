"""A service's mozlog lines as rows: the policy reaches the envelope, a Type must be a name to make a
table, and a service makes a bounded number of tables (past it, error rows). Real DuckDB, the real
worker and committer, in process."""

from __future__ import annotations

import orjson
import pytest

from pingpipe.decoder.core import DecoderConfig
from pingpipe.loader.tables import TableId
from pingpipe.loader.writers.duckdb import DuckDBWriter
from pingpipe.logs.mozlog import ServiceLines
from pingpipe.logs.policy import Policy
from pingpipe.logs.records import ERROR, NotMozlog, over_table_bound, parse, row, type_problem
from pingpipe.message import encode_line
from pingpipe.up import work
from pingpipe.up.commit import Committer

NS = 1_764_403_200_000_000_000
RECEIVED = "2025-11-29T08:00:00.000000Z"


def mozlog(type_: str, n: int = 0, **envelope) -> bytes:
    return orjson.dumps({"Timestamp": NS + n, "Type": type_, "Logger": "svc", "Hostname": "web-1", "Fields": {"n": n}, **envelope})


@pytest.mark.parametrize("type_", ["203.0.113.20", "henry@example.com", "x" * 300, "", "no spaces", "_leading", "fe80::1", "a/b"])
def test_a_type_that_is_not_a_name_is_an_error_whose_reason_does_not_repeat_it(type_):
    with pytest.raises(NotMozlog) as refused:
        parse(mozlog(type_))
    assert type_ == "" or type_ not in str(refused.value)
    assert type_problem(type_)


@pytest.mark.parametrize("type_", ["request.summary", "glean-server-event", "sync.token_v2", "A"])
def test_types_like_mozillas_name_tables(type_):
    assert type_problem(type_) is None and parse(mozlog(type_))["Type"] == type_


def test_addresses_in_the_envelope_are_taken_out():
    line = mozlog("request.summary", Logger="mailer for eve%40example.com", Hostname="198.51.100.7", EnvVersion="jörg@exämple.de")
    out, _ = row("svc", line, parse(line), Policy(), None)
    assert (out["logger"], out["hostname"], out["env_version"]) == ("mailer for [email]", None, None)


def test_a_line_that_is_not_mozlog_is_kept_for_its_error_row_without_its_addresses():
    message, attributes = ServiceLines("svc", Policy(), None)(b"login failed for bob@example.org from 81.2.69.160\n", RECEIVED)
    assert message == b"login failed for [email] from [ip]" and attributes[ERROR] == "not JSON"
    message, attributes = ServiceLines("svc", Policy(), None)(mozlog("henry@example.com"), RECEIVED)
    assert b"henry" not in message and "address" in attributes[ERROR]


def test_the_table_bound_makes_a_services_first_tables_and_refuses_the_rest():
    existing = {TableId("svc_logs_live", "a"), TableId("other_logs_live", "z"), TableId("pingpipe_demo_live", "x")}
    new = {TableId("svc_logs_live", t) for t in "bcd"} | {TableId("other_logs_live", "y")}
    assert over_table_bound(new, existing, 2) == {TableId("svc_logs_live", "c"), TableId("svc_logs_live", "d")}
    assert over_table_bound(new, existing, 100) == set()


def test_past_its_table_bound_a_services_new_types_load_as_error_rows_and_its_tables_go_on(tmp_path):
    work.init_worker(DecoderConfig())
    convert = ServiceLines("svc", Policy(), None)
    writer = DuckDBWriter(tmp_path / "warehouse.duckdb")
    committer = Committer(writer, max_log_tables=2)
    try:
        for i, batch in enumerate([["one.type", "two.type"], ["three.type", "one.type", "four.type"]]):
            path = tmp_path / f"s{i}.ndjson"
            path.write_bytes(b"".join(encode_line(*convert(mozlog(t, n), RECEIVED)) for n, t in enumerate(batch)))
            counts = committer.commit(work.process_segments([str(path)]), [path])
        assert (counts["rows"], counts["errors"]) == (1, 2)
        tables = {t.table for t in writer.tables() if t.dataset == "svc_logs_live"}
        assert tables == {"one_type", "two_type"}
        assert writer.query("SELECT count(*) FROM svc_logs_live.one_type").fetchone()[0] == 2
        messages = [m for (m,) in writer.query("SELECT error_message FROM payload_bytes_error.structured").fetchall()]
        assert len(messages) == 2 and all("2 log tables, the most it may make" in m for m in messages)
    finally:
        writer.close()
