"""What a service's log lines may keep: a declared policy, applied before a line is queued.

A policy (YAML) names the mozlog Fields to drop and those to replace with a keyed hash (HMAC-SHA256,
with a key kept outside the warehouse), so that one user's events still join without saying who
the user is. Whatever the policy says, anything that looks like an IP address or an e-mail
address (privacy/addresses.py) is taken out of every string that lands, field names and the
envelope included: a field whose value or name is one is dropped, and one inside a longer text
is replaced by `[ip]` or `[email]`. `columns` gives, per mozlog Type, the Fields that get typed
columns; the others stay in a JSON column.

    drop: [remoteAddressChain, ip, email]
    hash: [uid]
    columns:
      request.summary: {path: STRING, code: INT64, t: INT64}
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pingpipe.privacy.addresses import is_address, replace_addresses

COLUMN_TYPES = ("STRING", "INT64", "FLOAT64", "BOOL", "TIMESTAMP")


class PolicyError(ValueError):
    """A policy file that cannot be used (the message names the file)."""


@dataclass(frozen=True)
class Policy:
    drop: frozenset[str] = frozenset()
    hash: frozenset[str] = frozenset()
    columns: dict[str, dict[str, str]] = field(default_factory=dict, hash=False)  # Type -> {field: BigQuery type}


def load(path: Path | None) -> Policy:
    """A policy file; None gives the default policy (IP and e-mail addresses out, nothing else)."""
    if path is None:
        return Policy()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: {exc}") from None
    if not isinstance(raw, dict) or set(raw) - {"drop", "hash", "columns"}:
        raise PolicyError(f"{path}: a mapping with drop, hash and columns only")
    columns = raw.get("columns") or {}
    for type_, fields in columns.items():
        bad = {k: v for k, v in (fields or {}).items() if str(v).upper() not in COLUMN_TYPES}
        if bad:
            raise PolicyError(f"{path}: columns of {type_}: types must be one of {', '.join(COLUMN_TYPES)}, not {bad}")
    return Policy(
        frozenset(map(str, raw.get("drop") or ())),
        frozenset(map(str, raw.get("hash") or ())),
        {str(t): {str(k): str(v).upper() for k, v in (f or {}).items()} for t, f in columns.items()},
    )


def keyed_hash(value, key: bytes) -> str:
    """HMAC-SHA256 of the value's text: the same user gives the same hash, and without the key it says nothing."""
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def redact(text: str) -> str:
    """Addresses inside a text replaced by what they were."""
    return replace_addresses(text)


def redact_bytes(data: bytes) -> bytes:
    """A line's bytes with the addresses in its text replaced (bytes that are not UTF-8 kept as they were)."""
    text = data.decode("utf-8", "surrogateescape")
    return redact(text).encode("utf-8", "surrogateescape")


def scrub(value):
    """The value without IP or e-mail addresses, at any depth, in names as in values; None when the
    value itself is one. A name that is one drops its field; of names that become the same, the first stays."""
    if isinstance(value, str):
        return None if is_address(value) else redact(value)
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            name, item = scrub(name) if isinstance(name, str) else name, scrub(item)
            if name is not None and item is not None and name not in out:
                out[name] = item
        return out
    if isinstance(value, list):
        return [v for v in (scrub(v) for v in value) if v is not None]
    return value


def apply(fields: dict, policy: Policy, key: bytes | None) -> dict:
    """A line's Fields as the policy allows them to be kept."""
    out = {}
    for name, value in fields.items():
        if name in policy.drop:
            continue
        if name in policy.hash:
            if key is None:
                raise PolicyError(f"the policy hashes {name!r} but no hash key was given")
            value = keyed_hash(value, key)
        else:
            value = scrub(value)
        name = scrub(name)
        if name is not None and value is not None and name not in out:
            out[name] = value
    return out
