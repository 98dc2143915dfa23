"""Healthchecks: run the probe at its interval, keep Docker's State.Health shape.

`run_healthcheck` is driven by an injected `probe(timeout) -> (exit_code, output)` so the timing
logic is tested on trio's autojump clock without containers.
"""
from __future__ import annotations

import time
from typing import Awaitable, Callable

import trio

from engine.containers.logs import rfc3339_nanos
from engine.containers.model import Healthcheck

MAX_LOG = 5
MAX_OUTPUT = 4096
Probe = Callable[[float], Awaitable[tuple[int, str]]]


def probe_args(hc: Healthcheck) -> tuple[str, ...]:
    if hc.test[0] == "CMD-SHELL":
        return ("/bin/sh", "-c", hc.test[1])
    return tuple(hc.test[1:])


async def run_healthcheck(hc: Healthcheck, probe: Probe,
                          publish: Callable[[dict], None]) -> None:
    """Runs until cancelled (the container stopped)."""
    health: dict = {"Status": "starting", "FailingStreak": 0, "Log": []}
    publish(dict(health))
    began = trio.current_time()
    while True:
        in_start_period = trio.current_time() - began < hc.start_period
        await trio.sleep(hc.start_interval if in_start_period and health["Status"] == "starting"
                         else hc.interval)
        in_start_period = trio.current_time() - began < hc.start_period
        start = rfc3339_nanos(time.time_ns())
        code, output = -1, ""
        with trio.move_on_after(hc.timeout) as scope:
            code, output = await probe(hc.timeout)
        if scope.cancelled_caught:
            code, output = -1, f"Health check exceeded timeout ({hc.timeout:g}s)"
        end = rfc3339_nanos(time.time_ns())
        if code == 0:
            health["Status"], health["FailingStreak"] = "healthy", 0
        elif not in_start_period or health["Status"] != "starting":
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= hc.retries:
                health["Status"] = "unhealthy"
        health["Log"] = (health["Log"] + [{"Start": start, "End": end, "ExitCode": code,
                                           "Output": output[:MAX_OUTPUT]}])[-MAX_LOG:]
        publish({**health, "Log": list(health["Log"])})
