"""IP and e-mail addresses inside text: one rule for what the audit looks for and what log policies take out.

An IP address is what has the shape of an IPv4 or IPv6 address and parses as one, so a version
`1.2.3.4.5` or a time `12:30:45` is not an address, an IPv4-mapped IPv6 address is one address,
and an address that ends a sentence is still one. Octets written with leading zeros
(`203.000.113.015`) are an address too: many parsers read them as one.

An e-mail address is a local part, an `@` and a domain with a dotted name, in any script
(`jörg@exämple.de`), its `@` written as it may be escaped in URLs and HTML (`eve%40example.com`,
`&#64;`) or full-width.

Every pattern here runs on untrusted text in time linear in its length: a match may start only
where a run of its characters starts (a lookbehind), what it repeats without bound is possessive,
and the rest is bounded (benchmarks/bench_redact.py).
"""

from __future__ import annotations

import bisect
import ipaddress
import re

# The lookbehinds come after the first digit so that the engine skips to digits without trying
# every position: "not after a digit, nor after `digit.`".
_IPV4 = re.compile(r"[0-9](?<![0-9][0-9])(?<![0-9]\.[0-9])[0-9]{0,2}\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}(?![0-9]|\.[0-9])")
# Every IPv6 address has two colons at most 4 hex digits apart: the full pattern runs only near
# such runs of colons, each found in one match.
_IPV6_ANCHOR = re.compile(r"(?::[0-9A-Fa-f]{0,4}){2,}+")
_IPV6_REACH = 45  # the longest text form of an address
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![0-9A-Za-z:]|\.[0-9])"
)
_AT = r"(?:@|%40|\uff20|&#0*64;|&#x0*40;|&commat;)"
# Domain labels and their number are bounded as DNS bounds them, so a failed match costs a bounded
# number of steps wherever it starts.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++" + _AT + r"(?:[\w-]{1,63}\.){1,8}[^\W\d_]{2,63}", re.IGNORECASE)
_EMAIL_MARKS = ("@", "%40", "\uff20", "&#", "&commat;")


def _ipv4(text: str) -> bool:
    return all(int(octet) <= 255 for octet in text.split("."))


def _near_anchors(text: str) -> list[tuple[int, int]]:
    """The stretches of text within reach of an IPv6 anchor, merged: each character in one at most."""
    windows: list[list[int]] = []
    if text.count(":") < 2:
        return []
    for m in _IPV6_ANCHOR.finditer(text):
        start, end = max(0, m.start() - _IPV6_REACH), min(len(text), m.end() + _IPV6_REACH)
        if windows and start <= windows[-1][1]:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    return [(a, b) for a, b in windows]


def ip_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each IP address in the text, in order."""
    v6: list[tuple[int, int]] = []
    for start, end in _near_anchors(text):
        for m in _IPV6.finditer(text, start, end):
            candidate = m.group()
            if candidate.count(":") < 2 or candidate.strip(":") == "":
                continue
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            v6.append(m.span())
    v4 = []
    if "." in text:
        starts = [a for a, _ in v6]
        for m in _IPV4.finditer(text):
            i = bisect.bisect_right(starts, m.start()) - 1
            if i >= 0 and m.start() < v6[i][1]:
                continue  # the tail of an IPv4-mapped IPv6 address
            if _ipv4(m.group()):
                v4.append(m.span())
    return sorted(v6 + v4)


def email_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each e-mail address in the text, in order."""
    if not any(mark in text for mark in _EMAIL_MARKS):
        return []
    return [m.span() for m in _EMAIL.finditer(text)]


def address_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each address in the text, kind "ip" or "email", in order, none overlapping."""
    found = sorted(
        [(a, b, "email") for a, b in email_spans(text)] + [(a, b, "ip") for a, b in ip_spans(text)], key=lambda span: (span[0], -span[1])
    )
    out: list[tuple[int, int, str]] = []
    for span in found:
        if out and span[0] < out[-1][1]:  # an IP inside an e-mail address: the e-mail address
            continue
        out.append(span)
    return out


def ip_addresses(text: str) -> list[str]:
    return [text[a:b] for a, b in ip_spans(text)]


def addresses(text: str) -> list[str]:
    """The IP and e-mail addresses in a text, in order."""
    return [text[a:b] for a, b, _ in address_spans(text)]


def is_address(text: str) -> bool:
    """The whole text (spaces around it aside) is one address."""
    text = text.strip()
    spans = address_spans(text) if text else []
    return len(spans) == 1 and spans[0][:2] == (0, len(text))


def replace_addresses(text: str) -> str:
    """The text with each IP address replaced by `[ip]` and each e-mail address by `[email]`."""
    spans = address_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end, kind in spans:
        out += [text[last:start], f"[{kind}]"]
        last = end
    out.append(text[last:])
    return "".join(out)
