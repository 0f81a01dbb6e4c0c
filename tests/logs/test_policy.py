"""A service's policy: named Fields dropped or hashed with a key, and IP and e-mail addresses out everywhere."""

from __future__ import annotations

import pytest

from pingpipe.logs.policy import Policy, PolicyError, apply, keyed_hash, load, redact, scrub

KEY = b"a key kept outside the warehouse"


@pytest.mark.parametrize("text", ["81.2.69.160", "2a02:a311:803c:6300:4074:5cf2:91ac:d546", "::1", "a.user@example.com"])
def test_a_field_that_is_an_address_is_dropped_by_the_default_policy(text):
    assert apply({"x": text, "keep": "fine"}, Policy(), None) == {"keep": "fine"}


@pytest.mark.parametrize("text, want", [
    ("login from 81.2.69.160 failed", "login from [ip] failed"),
    ("sent to a.user@example.com today", "sent to [email] today"),
    ("peer [2a02:a311:803c:6300:4074:5cf2:91ac:d546]:443 closed", "peer [[ip]]:443 closed"),
    ("version 1.2.3 and 10.0.0.1.5 are not addresses", "version 1.2.3 and 10.0.0.1.5 are not addresses"),
    ("at 12:30:45 on 2026-11-29", "at 12:30:45 on 2026-11-29"),
])
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
