"""The debug viewer's pings: those tagged with Glean's `X-Debug-ID`, kept briefly, in memory, in `up`.

A worker makes one entry per tagged message it decodes (`entry`), from what the tables and the
error table get: the decoded payload (identifiers already stripped) or the error with its
message. The parent keeps the last `per_tag` entries of each tag for at most `max_age` seconds
(`DebugStore`), after their commit. Nothing is written to disk: a restart forgets them.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

import orjson

from pingpipe.decoder.steps.gunzip import gunzip
from pingpipe.decoder.steps.uri import parse_uri

TAG = "x_debug_id"  # the attribute the edge makes of the X-Debug-ID header
MAX_SHOWN_BYTES = 512 * 1024  # of a payload, pretty-printed


@dataclass
class DebugConfig:
    per_tag: int = 100
    max_age: float = 86400.0


def _pretty(payload) -> str:
    text = orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8")
    return text if len(text) <= MAX_SHOWN_BYTES else text[:MAX_SHOWN_BYTES] + "\n… (cut)"


def _body_text(data: bytes) -> str:
    """An error's payload as the client sent it: gunzipped, and pretty when it is JSON."""
    try:
        data = gunzip(data, {}, MAX_SHOWN_BYTES)
    except Exception:  # noqa: BLE001 - not gzip, or broken gzip: shown as it came
        pass
    try:
        return _pretty(orjson.loads(data))
    except (orjson.JSONDecodeError, TypeError):
        text = data[:MAX_SHOWN_BYTES].decode("utf-8", "replace")
        return text + ("\n… (cut)" if len(data) > MAX_SHOWN_BYTES else "")


def entry(attributes: dict, payload: dict | None = None, error: bytes | None = None) -> dict | None:
    """The debug entry of a decoded message (`payload`), or of an error message (`error`, its bytes,
    with error_type and error_message in `attributes`); None for an untagged message."""
    tag = attributes.get(TAG)
    if not tag:
        return None
    where = dict(attributes)
    if not where.get("document_type"):
        try:
            parse_uri(where)
        except Exception:  # noqa: BLE001 - the URI itself may be what failed
            pass
    where = {k: where.get(f"document_{k}") for k in ("namespace", "type", "version", "id")}
    return {
        "tag": tag[:100],
        "received": attributes.get("submission_timestamp"),
        "namespace": where["namespace"], "doctype": where["type"], "version": where["version"], "document_id": where["id"],
        "valid": error is None,
        "error_type": attributes.get("error_type"),
        "error_message": attributes.get("error_message"),
        "payload": _pretty(payload) if error is None else _body_text(error),
    }


@dataclass
class DebugStore:
    config: DebugConfig = field(default_factory=DebugConfig)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._tags: dict[str, collections.deque] = {}

    def add(self, entries: list[dict], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            for e in entries:
                kept = self._tags.setdefault(e["tag"], collections.deque(maxlen=self.config.per_tag))
                same = [old for old in kept if old["document_id"] == e["document_id"] and e["document_id"]]
                if same and not e["valid"]:  # a ping that decoded, then failed to load: its error replaces it
                    kept.remove(same[-1])
                kept.append({**e, "kept_at": now})

    def tags(self, now: float | None = None) -> list[dict]:
        """[{tag, pings, last}] newest first."""
        self._expire(time.time() if now is None else now)
        with self._lock:
            out = [{"tag": t, "pings": len(d), "last": d[-1]["received"]} for t, d in self._tags.items() if d]
        return sorted(out, key=lambda t: t["last"] or "", reverse=True)

    def pings(self, tag: str, now: float | None = None) -> list[dict]:
        """A tag's pings, newest first."""
        self._expire(time.time() if now is None else now)
        with self._lock:
            return list(reversed(self._tags.get(tag, ())))

    def _expire(self, now: float) -> None:
        cutoff = now - self.config.max_age
        with self._lock:
            for tag in list(self._tags):
                kept = self._tags[tag]
                while kept and kept[0]["kept_at"] < cutoff:
                    kept.popleft()
                if not kept:
                    del self._tags[tag]
