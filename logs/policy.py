"""What a service's log lines may keep: a declared policy, applied before a line is queued.

A policy (YAML) names the mozlog Fields to drop and those to replace with a keyed hash (HMAC-SHA256,
with a key kept outside the warehouse), so that one user's events still join without saying who
the user is. Whatever the policy says, anything that looks like an IP address or an e-mail
address is taken out everywhere: a field whose value is one is dropped, and one inside a longer
text is replaced by `[ip]` or `[email]`. `columns` gives, per mozlog Type, the Fields that get
typed columns; the others stay in a JSON column.

    drop: [remoteAddressChain, ip, email]
    hash: [uid]
    columns:
      request.summary: {path: STRING, code: INT64, t: INT64}
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pingpipe.privacy.addresses import replace_ip_addresses

COLUMN_TYPES = ("STRING", "INT64", "FLOAT64", "BOOL", "TIMESTAMP")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


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
    return Policy(frozenset(map(str, raw.get("drop") or ())), frozenset(map(str, raw.get("hash") or ())),
                  {str(t): {str(k): str(v).upper() for k, v in (f or {}).items()} for t, f in columns.items()})


def keyed_hash(value, key: bytes) -> str:
    """HMAC-SHA256 of the value's text: the same user gives the same hash, and without the key it says nothing."""
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def is_address(text: str) -> bool:
    """The whole text is an IP address or an e-mail address."""
    try:
        ipaddress.ip_address(text.strip())
        return True
    except ValueError:
        return bool(EMAIL.fullmatch(text.strip()))


def redact(text: str) -> str:
    """Addresses inside a text replaced by what they were."""
    return replace_ip_addresses(EMAIL.sub("[email]", text))


def scrub(value):
    """The value without IP or e-mail addresses, at any depth; None when the value itself is one."""
    if isinstance(value, str):
        return None if is_address(value) else redact(value)
    if isinstance(value, dict):
        return {k: v for k, v in ((k, scrub(v)) for k, v in value.items()) if v is not None}
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
            out[name] = keyed_hash(value, key)
            continue
        value = scrub(value)
        if value is not None:
            out[name] = value
    return out
