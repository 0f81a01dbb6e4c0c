"""JSON text as every stage reads and writes payloads: orjson, with integers kept exact at any size.

orjson reads an integer beyond 64 bits as a float, and refuses to write one. A counter of 2**64
would then be rounded without a word. Such a payload is read again by the standard library,
which keeps every integer as written, and written with the big integers as their own digits.
The check is a scan of the digits (the bytes' translate is C), and the slow paths run only for
the rare payloads that need them.
"""

from __future__ import annotations

import json
import sys

import orjson

_DIGITS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))  # each digit a "0", every other byte a space
_MAX_DEPTH = 1024  # orjson's reading limit
_LONG = b"0" * 19  # 19 digits in a row: an integer that may be beyond 64 bits (-2**63 - 1 has 19, 2**64 has 20)


def loads(data: bytes):
    """The JSON value of `data` (orjson's rules: invalid UTF-8, NaN and nesting past 1024 refused)."""
    value = orjson.loads(data)
    if _LONG in data.translate(_DIGITS):
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * _MAX_DEPTH))
        try:
            return json.loads(data)
        finally:
            sys.setrecursionlimit(limit)
    return value


def dumps(value) -> bytes:
    """JSON text for any value `loads` returns: integers beyond 64 bits written exactly, and nesting
    as deep as `loads` takes (orjson writes 254 levels and reads 1024)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(_exact(value))
    except (orjson.JSONEncodeError, RecursionError):
        return _deep(value)


def _deep(value) -> bytes:
    """The standard library's encoder, given the stack for 1024 levels (it recurses once a level)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * _MAX_DEPTH))
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    finally:
        sys.setrecursionlimit(limit)


def _exact(value):
    """The value with each integer beyond 64 bits as its digits, verbatim (orjson.Fragment)."""
    t = type(value)
    if t is int:
        return value if -(2**63) <= value < 2**64 else orjson.Fragment(str(value))
    if t is dict:
        return {k: _exact(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_exact(v) for v in value]
    return value
