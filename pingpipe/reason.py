"""An exception as the one line a person reads: its message's first line, or for a command's
unexpected failure, its cause (`failure`).

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


def failure(exc: BaseException) -> str:
    """An unexpected failure of a command as one line: its message's last non-empty line (where libraries
    put the cause), with its type; a Google API error by its first error's message (a failed BigQuery
    job's message ends with its location and id)."""
    errors = getattr(exc, "errors", None)
    first = errors[0].get("message") if isinstance(errors, list) and errors and isinstance(errors[0], dict) else None
    lines = [first.strip()] if first and first.strip() else [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text and not text.startswith(name) else text or name
