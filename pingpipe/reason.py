"""An exception as the one line a person reads: its message's first line.

Errors are reported in one line, never a traceback. A message can be empty (`ValueError()`) or
start with a blank line; then the exception's class names what went wrong.
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """The first non-blank line of the exception's message, else its class name."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
