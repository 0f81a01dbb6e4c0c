"""Another process holding the warehouse file: how long an open waits for it, and who it is.

A `pingpipe status` or `query` holds the file read-only for a moment, and a supervisor may restart
`up` in that moment: an open waits a little rather than fail at once. Kept light to import (no DuckDB):
configurations read the default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LOCK_WAIT = 10.0  # seconds an open waits for another process to let go of the file
RETRY_EVERY = 0.1  # seconds between attempts

_HELD = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


def holder(message: str) -> tuple[int, str] | None:
    """(PID, program) of the process a DuckDB error says holds the file's lock; None for any other error."""
    found = _HELD.search(message)
    return (int(found["pid"]), found["exe"]) if found else None


def describe(pid: int, program: str = "") -> str:
    """What the process is, for a person: its command line as it was typed (`pingpipe status --data d`)
    when /proc shows it, else the program DuckDB named."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        raw = b""
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    if args and os.path.basename(args[0]).startswith("python"):  # the interpreter of a console script
        args = args[1:]
        if args[:1] == ["-m"]:
            args = args[1:]
    text = " ".join([os.path.basename(args[0]), *args[1:]]) if args else os.path.basename(program) or "unknown"
    text = "".join(c if c.isprintable() else "?" for c in text)  # another user's text, printed on our terminal
    return text if len(text) <= 120 else text[:119] + "…"


def held_message(pid: int, program: str, waited: float) -> str:
    return f"held by PID {pid} ({describe(pid, program)}) for more than {waited:g} s"
