"""IP addresses inside text: one rule for what the audit looks for and what log policies take out.

A candidate is what has the shape of an IPv4 or IPv6 address and parses as one, so a version
`1.2.3.4.5` or a time `12:30:45` is not an address, an IPv4-mapped IPv6 address is one address,
and an address that ends a sentence is still one.
"""

from __future__ import annotations

import ipaddress
import re

_IPV4 = re.compile(r"(?<![0-9])(?<![0-9]\.)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![0-9A-Za-z:]|\.[0-9])")


def ip_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each IP address in the text, in order."""
    spans = []
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            candidate = m.group()
            if candidate.count(":") < 2 or candidate.strip(":") == "":
                continue
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            spans.append(m.span())
    if "." in text:
        for m in _IPV4.finditer(text):
            if any(a <= m.start() < b for a, b in spans):
                continue  # the tail of an IPv4-mapped IPv6 address
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            spans.append(m.span())
    return sorted(spans)


def ip_addresses(text: str) -> list[str]:
    return [text[a:b] for a, b in ip_spans(text)]


def replace_ip_addresses(text: str, by: str = "[ip]") -> str:
    """The text with each IP address in it replaced by `by`."""
    spans = ip_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for a, b in spans:
        out += [text[last:a], by]
        last = b
    out.append(text[last:])
    return "".join(out)
