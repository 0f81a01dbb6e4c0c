"""Garbage-collector settings for pingpipe's long-running processes (edge, decoder, loader, up)."""

from __future__ import annotations

import atexit
import gc

GEN0_THRESHOLD = 50_000
_unfreeze_at_exit = False


def tune_gc() -> None:
    """Fewer cyclic collections, and none over what was loaded at start-up.

    Each ping becomes a few hundred short-lived containers (dicts, lists) and a batch keeps
    thousands of rows alive at once. With CPython's default thresholds (700, 10, 10) a young
    collection runs every couple of pings and the older ones rescan every batched row again and
    again: a third of the loader's coercion time (benchmarks/bench_loader.py). Reference counting
    frees these objects anyway; the collector is only needed for reference cycles, which the hot
    paths do not create, so it can run a hundred times less often. Objects alive now (modules,
    the registry, compiled schemas) are moved out of its way for good with gc.freeze().
    Idempotent: calling it again only freezes what was added since. At exit everything is unfrozen,
    so that extension modules (duckdb's nanobind) see their objects freed and report no leaks.
    """
    global _unfreeze_at_exit
    if not _unfreeze_at_exit:
        atexit.register(gc.unfreeze)
        _unfreeze_at_exit = True
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, 50, 100)
