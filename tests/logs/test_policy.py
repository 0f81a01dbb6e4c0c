"""A service's policy: named Fields dropped or hashed with a key, and IP and e-mail addresses out everywhere."""

from __future__ import annotations

import pytest

from pingpipe.logs.policy import Policy, PolicyError, apply, keyed_hash, load, redact, redact_bytes, scrub

KEY = b"a key kept outside the warehouse"


@pytest.mark.parametrize("text", ["81.2.69.160", "2a02:a311:803c:6300:4074:5cf2:91ac:d546", "::1", "a.user@example.com"])
def test_a_field_that_is_an_address_is_dropped_by_the_default_policy(text):
    assert apply({"x": text, "keep": "fine"}, Policy(), None) == {"keep": "fine"}


@pytest.mark.parametrize(
    "text, want",
    [
        ("login from 81.2.69.160 failed", "login from [ip] failed"),
        ("sent to a.user@example.com today", "sent to [email] today"),
        ("peer [2a02:a311:803c:6300:4074:5cf2:91ac:d546]:443 closed", "peer [[ip]]:443 closed"),
        ("version 1.2.3 and 10.0.0.1.5 are not addresses", "version 1.2.3 and 10.0.0.1.5 are not addresses"),
        ("at 12:30:45 on 2026-11-29", "at 12:30:45 on 2026-11-29"),
    ],
)
def test_addresses_inside_a_text_are_replaced(text, want):
    assert redact(text) == want


def test_the_default_policy_scrubs_at_any_depth():
    assert scrub({"chain": ["81.2.69.160", "10.0.0.1"], "user": {"email": "a@b.org", "n": 3}}) == {"chain": [], "user": {"n": 3}}


def test_named_fields_are_dropped_and_hashed_with_the_key():
    policy = Policy(drop=frozenset({"remoteAddressChain"}), hash=frozenset({"uid"}))
    out = apply({"remoteAddressChain": ["x"], "uid": "0123abcd", "op": "login"}, policy, KEY)
    assert out == {"uid": keyed_hash("0123abcd", KEY), "op": "login"}
    assert out["uid"] != keyed_hash("0123abcd", b"another key") and len(out["uid"]) == 64


def test_hashing_without_a_key_is_refused():
    with pytest.raises(PolicyError, match="no hash key"):
        apply({"uid": "x"}, Policy(hash=frozenset({"uid"})), None)


def test_a_policy_file_is_read_and_a_bad_one_named(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("drop: [ip]\nhash: [uid]\ncolumns:\n  request.summary: {path: string, code: INT64}\n")
    assert load(good) == Policy(frozenset({"ip"}), frozenset({"uid"}), {"request.summary": {"path": "STRING", "code": "INT64"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  t: {a: DECIMAL}\n")
    with pytest.raises(PolicyError, match="bad.yaml: columns of t"):
        load(bad)


@pytest.mark.parametrize(
    "fields, kept",
    [
        ({"alice2@example.com": 1, "ok": 2}, {"ok": 2}),  # a name that is an address drops its field
        ({"nested": {"198.51.100.10": "x", "deep": [{"bob@example.org": 1, "n": 1}]}}, {"nested": {"deep": [{"n": 1}]}}),
        ({"from 81.2.69.160": 1}, {"from [ip]": 1}),  # an address inside a name is replaced, as in a value
        ({"to eve%40example.com": "jörg@exämple.de", "host": "203.000.113.015"}, {}),  # values that are addresses, too
    ],
)
def test_addresses_in_field_names_are_taken_out_at_any_depth(fields, kept):
    assert apply(fields, Policy(), None) == kept


def test_encoded_addresses_are_taken_out_of_values():
    out = apply({"a": "reset for eve%40example.com", "b": "by jörg@exämple.de", "c": "peer 203.000.113.015 left"}, Policy(), None)
    assert out == {"a": "reset for [email]", "b": "by [email]", "c": "peer [ip] left"}


def test_redaction_of_a_100_kb_value_and_of_a_line_keeps_what_is_not_an_address():
    value = "A" * 100_000 + " mail a@example.com"
    assert redact(value) == "A" * 100_000 + " mail [email]"
    assert redact_bytes(b"\xff not utf-8, from 81.2.69.160\n") == b"\xff not utf-8, from [ip]\n"
