"""Decoding failures. Each carries the `error_type` that names its step (Mozilla's names)."""

from __future__ import annotations


class DecodeError(Exception):
    error_type = "Decode"


class UriError(DecodeError):
    error_type = "ParseUri"


class UnexpectedPathElements(UriError):
    pass


class DecompressError(DecodeError):
    error_type = "DecompressPayload"


class PayloadTooLarge(DecompressError):
    pass


class PayloadError(DecodeError):
    """JSON that does not parse or does not validate against its schema."""

    error_type = "ParsePayload"


class SchemaNotFound(PayloadError):
    pass


class SchemaValidationError(PayloadError):
    pass
