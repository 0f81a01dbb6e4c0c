"""A process `pingpipe up` starts dies with it (Linux), even when `up` is killed with SIGKILL: no orphan
keeps the edge's port or waits for work for ever."""

from __future__ import annotations

import ctypes
import os
import signal

ENV = "PINGPIPE_PARENT_PID"  # set for a child started as a program: it asks for its death signal itself


def die_with_parent(parent: int) -> None:  # pragma: no cover - runs in a child process
    """SIGKILL when `parent` dies (PR_SET_PDEATHSIG). A parent that died before the request leaves us
    adopted: exit now."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent:
        os._exit(1)


def die_with_parent_named() -> None:  # pragma: no cover - runs in a child process
    """`die_with_parent` for the parent ENV names, once: the variable is taken out, so that this
    process's own children do not take it for theirs."""
    parent = os.environ.pop(ENV, None)
    if parent:
        die_with_parent(int(parent))
