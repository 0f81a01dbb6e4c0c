"""The debug viewer's pings: those tagged with Glean's `X-Debug-ID`, kept briefly, in memory, in `up`.

A worker makes one entry per tagged message it decodes (`entry`), from what the tables and the
error table get: the decoded payload (identifiers already stripped) or the error with its
message; only for a tag a Glean SDK can send (`valid_tag`). The parent keeps the last `per_tag`
entries of each tag for at most `max_age` seconds (`DebugStore`), after their commit, and within
`max_bytes` and `max_tags` in all: any client can tag its pings, so without those bounds a few
hundred large pings, each with its own tag, would hold gigabytes. Nothing is written to disk: a
restart forgets them.
"""

from __future__ import annotations

import collections
import itertools
import re
import sys
import threading
import time
from dataclasses import dataclass, field

import orjson

from pingpipe.decoder.steps.gunzip import gunzip
from pingpipe.decoder.steps.uri import parse_uri
from pingpipe.schemas.names import SUBMISSION_TIMESTAMP

TAG = "x_debug_id"  # the attribute the edge makes of the X-Debug-ID header
MAX_SHOWN_BYTES = 512 * 1024  # of a payload, pretty-printed
CUT = "\n... (cut)"  # ASCII: a "…" would make Python keep the whole (ASCII) text at 2 bytes a character
MIB = 1024 * 1024
# The rule of the Glean SDKs' debug view tags (glean-core's debug.rs validate_tag, Glean.js's docs):
# letters, digits and `-`, 1 to 20 of them. (glean-core 71 itself refuses a 20th character.)
TAG_RULE = re.compile(r"[A-Za-z0-9-]{1,20}")
CLIENT_ID = re.compile(r'"client_id": ?"([^"\\]{1,200})"')  # in a payload as shown: Glean's and legacy pings'


@dataclass
class DebugConfig:
    per_tag: int = 100
    max_age: float = 86400.0
    max_bytes: int = 64 * MIB  # all entries' text, mostly pretty payloads (each at most MAX_SHOWN_BYTES)
    max_tags: int = 1000


def valid_tag(tag) -> bool:
    """Whether a Glean SDK could have sent this tag: only those are kept, so a tag is always a
    working link, and text that no SDK sends makes no entry."""
    return isinstance(tag, str) and TAG_RULE.fullmatch(tag) is not None


def _pretty(payload) -> str:
    text = orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8")
    return text if len(text) <= MAX_SHOWN_BYTES else text[:MAX_SHOWN_BYTES] + CUT


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
        return text + (CUT if len(data) > MAX_SHOWN_BYTES else "")


def entry(attributes: dict, payload: dict | None = None, error: bytes | None = None) -> dict | None:
    """The debug entry of a decoded message (`payload`), or of an error message (`error`, its bytes,
    with error_type and error_message in `attributes`); None for a message without a valid tag,
    decided before the payload is pretty-printed."""
    tag = attributes.get(TAG)
    if not valid_tag(tag):
        return None
    where = dict(attributes)
    if not where.get("document_type"):
        try:
            parse_uri(where)
        except Exception:  # noqa: BLE001 - the URI itself may be what failed
            pass
    where = {k: where.get(f"document_{k}") for k in ("namespace", "type", "version", "id")}
    text = _pretty(payload) if error is None else _body_text(error)
    return {
        "tag": tag,
        "received": attributes.get(SUBMISSION_TIMESTAMP),
        "namespace": where["namespace"],
        "doctype": where["type"],
        "version": where["version"],
        "document_id": where["id"],
        "valid": error is None,
        "error_type": attributes.get("error_type"),
        "error_message": attributes.get("error_message"),
        "payload": text,
        "client_ids": tuple(sorted(set(CLIENT_ID.findall(text)))),  # forgotten when their deletion is processed
    }


def as_json(e: dict) -> dict:
    """A debug entry as the JSON API gives it (what its page shows): the verdict, and a valid ping's
    payload as JSON, a refused one's body as text."""
    out = {k: v for k, v in e.items() if k not in ("client_ids", "payload", "kept_at")}  # the viewer's own bookkeeping aside
    out["verdict"] = "valid" if e["valid"] else f"refused: {e['error_type']}"
    try:
        out["payload"] = orjson.loads(e["payload"]) if e["valid"] else e["payload"]
    except orjson.JSONDecodeError:
        out["payload"] = e["payload"]
    return out


def _size(e: dict) -> int:
    """What an entry holds in memory: the dict and its values (sys.getsizeof is O(1) for a str)."""
    return sys.getsizeof(e) + sum(sys.getsizeof(v) for v in e.values())


@dataclass(slots=True)
class _Kept:
    tag: str
    size: int
    at: float


@dataclass
class DebugStore:
    """Entries by tag, within the config's bounds. One ordering of all entries, oldest first, makes
    each bound O(1) per entry: expiry and the byte bound drop from its front; the tag bound drops
    the tag kept least recently, whole."""

    config: DebugConfig = field(default_factory=DebugConfig)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._tags: collections.OrderedDict[str, collections.OrderedDict[int, dict]] = collections.OrderedDict()
        self._order: collections.OrderedDict[int, _Kept] = collections.OrderedDict()
        self._seq = itertools.count()
        self._bytes = 0
        self._evicted = 0
        self._evicted_since: float | None = None

    def add(self, entries: list[dict], now: float | None = None) -> None:
        now = time.time() if now is None else now
        c = self.config
        with self._lock:
            self._expire(now)
            for e in entries:
                e = {**e, "kept_at": now}
                size = _size(e)
                if size > c.max_bytes:  # alone past the bound: not kept, rather than the whole store evicted for it
                    self._count_eviction(1, now)
                    continue
                tag = e["tag"]
                kept = self._tags.get(tag)
                if kept is not None:
                    if not e["valid"] and e["document_id"]:  # a ping that decoded, then failed to load: its error replaces it
                        same = next((s for s, old in reversed(kept.items()) if old["document_id"] == e["document_id"]), None)
                        if same is not None:
                            self._drop(same)
                    while tag in self._tags and len(kept) >= c.per_tag:
                        self._drop(next(iter(kept)))
                if tag in self._tags:
                    self._tags.move_to_end(tag)
                else:
                    while self._tags and len(self._tags) >= c.max_tags:
                        self._evict_tag(next(iter(self._tags)), now)
                    kept = self._tags[tag] = collections.OrderedDict()
                seq = next(self._seq)
                kept[seq] = e
                self._order[seq] = _Kept(tag, size, now)
                self._bytes += size
                while self._bytes > c.max_bytes:
                    self._drop(next(iter(self._order)))
                    self._count_eviction(1, now)

    def tags(self, now: float | None = None) -> list[dict]:
        """[{tag, pings, last}] newest first."""
        with self._lock:
            self._expire(time.time() if now is None else now)
            out = [{"tag": t, "pings": len(d), "last": next(reversed(d.values()))["received"]} for t, d in self._tags.items()]
        return sorted(out, key=lambda t: t["last"] or "", reverse=True)

    def pings(self, tag: str, now: float | None = None) -> list[dict]:
        """A tag's pings, newest first."""
        with self._lock:
            self._expire(time.time() if now is None else now)
            return list(reversed(self._tags.get(tag, {}).values()))

    def forget(self, client_ids: set[str]) -> int:
        """Drop every ping of these clients (their deletion was processed); how many were dropped."""
        with self._lock:
            gone = [seq for tag in self._tags.values() for seq, e in tag.items() if client_ids.intersection(e["client_ids"])]
            for seq in gone:
                self._drop(seq)
            return len(gone)

    def status(self) -> dict:
        """What is kept, and how many pings the byte and tag bounds evicted since when (epoch seconds):
        the pages say so, since an evicted ping is one a user may look for."""
        with self._lock:
            return {
                "bytes": self._bytes,
                "tags": len(self._tags),
                "pings": len(self._order),
                "evicted": self._evicted,
                "evicted_since": self._evicted_since,
            }

    def _drop(self, seq: int) -> None:
        kept = self._order.pop(seq)
        entries = self._tags[kept.tag]
        del entries[seq]
        self._bytes -= kept.size
        if not entries:
            del self._tags[kept.tag]

    def _evict_tag(self, tag: str, now: float) -> None:
        entries = self._tags[tag]
        self._count_eviction(len(entries), now)
        for seq in list(entries):
            self._drop(seq)

    def _count_eviction(self, n: int, now: float) -> None:
        self._evicted += n
        if self._evicted_since is None:
            self._evicted_since = now

    def _expire(self, now: float) -> None:
        cutoff = now - self.config.max_age
        while self._order:
            seq, kept = next(iter(self._order.items()))
            if kept.at >= cutoff:
                break
            self._drop(seq)
