"""Deduplication: which copy of a document is delivered, and how long a delivered id is remembered.

One rule for every runner, Mozilla's (bigquery-etl's copy_deduplicate): of the copies of one
document_id, the one with the earliest submission_timestamp is delivered; the others are counted
duplicates (an error row of type `duplicate`, metadata only). A copy that fails to decode never
competes: it is an error like any other, and a later copy that decodes can still be delivered.

Runners differ in what they see at once, not in the rule:
* Beam batch sees every copy: the earliest is delivered.
* `pingpipe up` sees a segment group at a time: the earliest copy in it is delivered, and a copy
  whose id was delivered before, within the window, is a duplicate.
* Beam streaming sees one message at a time: a copy whose id was delivered within the window is
  a duplicate. The edge stamps submission_timestamp on arrival, so the first delivered is the
  earliest submitted.
The window is the one named parameter (`DedupeConfig.window`); `up` also bounds how many ids it
holds in memory (`max_ids`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Container, Mapping, Sequence, TypeVar

from .steps import logentry
from .steps.uri import document_id_of

T = TypeVar("T")


@dataclass(frozen=True)
class DedupeConfig:
    window: float = 24 * 3600.0  # seconds a delivered document id is remembered (Beam streaming: in keyed state)
    max_ids: int = 5_000_000  # `up`: at most this many ids in memory (about 120 bytes each), the newest


def document_key(attributes: Mapping[str, str], data: bytes = b"") -> str:
    """The key every copy of one document shares, whichever runner reads it, before decoding or after:
    its document_id once decoded (or queued as a log row), else the id its URI names, else the id a
    LogEntry's Fields name; "" when none can be read (such a message is never anyone's copy)."""
    document_id = attributes.get("document_id")
    if document_id:
        return document_id
    uri = attributes.get("uri")
    if uri:
        return document_id_of(uri)
    return logentry.document_id(data) if data and logentry.is_log_entry(attributes) else ""


def competing_order(copies: Sequence[T], submitted: Callable[[T], str]) -> list[T]:
    """The copies of one document in the order they compete: earliest submission first, then arrival.

    submission_timestamp is ISO 8601 in UTC with a fixed width, so text order is time order."""
    return sorted(copies, key=submitted)


def later_copies(ids: Sequence[str], submitted: Sequence[str | None]) -> set[int]:
    """Positions of the copies that lose to an earlier copy of the same id in one batch (ties: the first)."""
    first: dict[str, int] = {}
    losers: set[int] = set()
    for i, doc in enumerate(ids):
        j = first.get(doc)
        if j is None:
            first[doc] = i
        elif (submitted[i] or "") < (submitted[j] or ""):
            losers.add(j)
            first[doc] = i
        else:
            losers.add(i)
    return losers


def duplicates(ids: Sequence[str], submitted: Sequence[str | None], known: Container[str]) -> set[int]:
    """Positions of a batch's copies that are counted duplicates: of a document already delivered
    (`known`: the dedupe window, or its table), or a later copy of one in the batch. `up`'s commit
    and a replay's preview both decide by it."""
    later = later_copies(ids, submitted)
    return {i for i, doc in enumerate(ids) if i in later or doc in known}
