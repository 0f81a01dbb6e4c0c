"""Error messages: the one factory for every stage and runner (Beam, `pingpipe up`, batch commands).

A message that cannot become a row ends as one error message, in Mozilla's error-output form:
the original bytes, the attributes without identifiers, and error_type, error_message,
exception_class and stack_trace. The loader writes it as one row of payload_bytes_error.*
(loader/load.py error_row). Decoding failures, load failures, rows a warehouse refused and
duplicates are all made here, so they read alike whichever runner made them.
"""

from __future__ import annotations

import traceback

from pingpipe.message import RawMessage

from .steps.geo import IP_ATTRIBUTES

# Never written anywhere downstream: not to rows, not to the error output.
IDENTIFIERS = IP_ATTRIBUTES + ("user_agent",)
DUPLICATE = "duplicate"  # the error_type of a counted duplicate (pingpipe's; Mozilla dedupes later, in SQL)
LOAD = "Load"  # the error_type of a decoded message that could not become a row


class Duplicate(Exception):
    """A document id whose first copy was already delivered."""


class Refused(Exception):
    """A row its warehouse refused (the message is the warehouse's own)."""


def failure(data: bytes, attributes: dict[str, str], exc: BaseException, error_type: str) -> RawMessage:
    attrs = {k: v for k, v in attributes.items() if k not in IDENTIFIERS}
    cls = type(exc)
    qualified = f"{cls.__module__}.{cls.__qualname__}"
    attrs["error_type"] = error_type
    attrs["error_message"] = f"{qualified}: {exc}"
    attrs["exception_class"] = qualified
    attrs["stack_trace"] = "".join(traceback.format_exception(exc))[-8000:]
    return RawMessage(data, attrs)


def duplicate(attributes: dict[str, str]) -> RawMessage:
    """A later copy of a delivered document: its metadata only (Mozilla drops a duplicate's body)."""
    exc = Duplicate(f"document_id {attributes.get('document_id')} was already delivered")
    return failure(b"", attributes, exc, DUPLICATE)


def load_failure(data: bytes, attributes: dict[str, str], exc: BaseException) -> RawMessage:
    """A decoded message that could not become a row of its table (error_type LOAD)."""
    return failure(data, attributes, exc, LOAD)


def refused(data: bytes, attributes: dict[str, str], message: str) -> RawMessage:
    """A coerced row (`data`, its JSON) that its warehouse refused, with the warehouse's message."""
    return failure(data, attributes, Refused(message), LOAD)
