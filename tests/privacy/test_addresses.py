"""What counts as an IP address inside text: one rule for the audit and for log policies."""

from __future__ import annotations

import pytest

from pingpipe.privacy.addresses import ip_addresses, replace_ip_addresses


@pytest.mark.parametrize("text, found", [
    ("client 81.2.69.160 said hi", ["81.2.69.160"]),
    ("2001:db8::1 and ::1", ["2001:db8::1", "::1"]),
    ("mapped ::ffff:81.2.69.160 is one address", ["::ffff:81.2.69.160"]),  # never "[ip].2.69.160"
    ("from 2001:db8::1. Then 81.2.69.160.", ["2001:db8::1", "81.2.69.160"]),  # at a sentence's end
    ("version 1.2.3.4.5, 999.1.1.1", []),  # longer than an address; not one
    ("...81.2.69.160, (10.0.0.1)", ["81.2.69.160", "10.0.0.1"]),
    ("at 12:30:45, ratio 1:2:3", []),  # times and ratios have the shape of neither
    ("deadbeef::cafe::1", []),  # two :: do not parse
    ("", []),
])
def test_an_ip_address_is_what_has_its_shape_and_parses(text, found):
    assert ip_addresses(text) == found
    replaced = replace_ip_addresses(text)
    assert replaced.count("[ip]") == len(found) and not any(address in replaced for address in found)
