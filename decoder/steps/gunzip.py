"""Step: gunzip the body if it is gzip, reading at most `max_bytes` so a gzip bomb costs nothing."""

from __future__ import annotations

from isal import isal_zlib  # zlib's interface, Intel's ISA-L inflate: less CPU than zlib

from ..errors import DecompressError, PayloadTooLarge

GZIP_MAGIC = b"\x1f\x8b"


def gunzip(data: bytes, attributes: dict[str, str], max_bytes: int) -> bytes:
    """The body, inflated if it is gzip: every member of it, as gzip does (members concatenate).

    Bytes after the last member that are not one are refused, never dropped: the body goes to the
    error table whole."""
    if not data.startswith(GZIP_MAGIC):
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"payload of {len(data)} bytes is over the {max_bytes}-byte limit")
        return data
    parts: list[bytes] = []
    size, rest = 0, data
    while rest:
        if not rest.startswith(GZIP_MAGIC):
            raise DecompressError(f"{len(rest)} byte(s) after the last gzip member are not gzip data")
        inflater = isal_zlib.decompressobj(wbits=31)
        try:
            # max_length stops inflating at the cap: memory stays bounded whatever the ratio.
            out = inflater.decompress(rest, max_bytes + 1 - size)
        except isal_zlib.error as exc:
            raise DecompressError(f"invalid gzip data: {exc}") from None
        size += len(out)
        if size > max_bytes:
            raise PayloadTooLarge(f"payload decompresses to more than {max_bytes} bytes")
        if not inflater.eof:
            raise DecompressError("truncated gzip data")
        parts.append(out)
        rest = inflater.unused_data
    attributes["client_compression"] = "gzip"
    return parts[0] if len(parts) == 1 else b"".join(parts)
