"""Crash points for tests: with PINGPIPE_KILL_AT=<name>, the process SIGKILLs itself at `point(name)`.

A fake fault, said so: a test cannot time a kill from outside to land inside a transaction that
lasts milliseconds. Everything after the kill (the restart, the recovery) is the real one.
"""

from __future__ import annotations

import os
import signal

ENV = "PINGPIPE_KILL_AT"


def point(name: str) -> None:
    """Die here, as by kill -9, if the environment names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
