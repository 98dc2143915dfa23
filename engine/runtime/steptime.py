"""Opt-in wall times of daemon steps, for the up/down benchmark (bench/engine_updown_bench.py).

With PYCOMPOSE_STEP_TIMES=1 in the daemon's environment (its main calls `enable`) every
`step(...)` block logs one INFO line "step <name> <ms> ms <detail>" to engine.log; without it a
step costs one attribute read.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator

ENABLED = False
log = logging.getLogger("engine.steps")


def enable(on: bool) -> None:
    """Set once at the daemon's start, from its environment."""
    global ENABLED
    ENABLED = on


@contextmanager
def step(name: str, detail: str = "") -> Iterator[None]:
    if not ENABLED:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        log.info("step %s %.2f ms %s", name, (time.perf_counter() - start) * 1000, detail)
