"""snake_case column names, the way Mozilla's pipeline names BigQuery columns.

The rule splits a name into words at non-word characters, underscores and case changes, and
joins the lowercased words with `_`. Case changes are found scanning the name backwards, so
that a run of capitals followed by a capitalised word splits before the word
("HTTPServer" -> "http_server") and digits stick to the word before them ("a7Aa" -> "a7_aa").
"""

from __future__ import annotations

import re
from functools import lru_cache

_SEPARATORS = re.compile(r"[^\w]|_")
# Word boundaries in the *reversed* string.
_REVERSED_BOUNDARY = re.compile(
    r"\b"  # between a word and a separator
    r"|(?<=[a-z][A-Z])(?=\d*[A-Z])"  # reversed "..Aa|A.." : uppercase run before a word
    r"|(?<=[a-z][A-Z])(?=\d*[a-z])"  # reversed "aA|a": lower then Upper
    r"|(?<=[A-Z])(?=\d*[a-z])"  # reversed "a|A": a word ending in a capital
)


@lru_cache(maxsize=65536)
def snake_case(name: str) -> str:
    reversed_name = _SEPARATORS.sub(" ", name)[::-1]
    words = [w for w in _REVERSED_BOUNDARY.split(reversed_name) if w.strip()]
    return "_".join(words).lower()[::-1]
