"""`depends_on` conditions: a pure verdict from a container's inspect data, and the poll loop.

Compose polls every 500 ms; we poll faster at first (most containers are ready within
milliseconds), then back off to Compose's interval, and with the engine's events (engine_events.py)
re-inspect as soon as the container changes instead of at the next poll.
"""
from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import trio

from compose.orchestrator.errors import DependencyError


class Verdict(enum.Enum):
    WAIT = "wait"
    MET = "met"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    message: str = ""
    status: str = "Healthy"   # what `up --wait` shows for a container that met its check


def check_condition(condition: str, service: str, name: str, inspect: Mapping) -> Check:
    """Is `condition` met by this container (`inspect` = GET /containers/{id}/json)?"""
    state = inspect.get("State") or {}
    status = state.get("Status", "")
    code = state.get("ExitCode", 0)
    if condition == "service_started":
        return Check(Verdict.MET)
    if condition == "service_completed_successfully":
        if status in ("exited", "dead"):
            if code == 0:
                return Check(Verdict.MET)
            return Check(Verdict.FAILED,
                         f"service {service!r} didn't complete successfully: exit {code}")
        return Check(Verdict.WAIT)
    if condition == "service_healthy":
        health = state.get("Health")
        if not health:
            config_hc = ((inspect.get("Config") or {}).get("Healthcheck") or {}).get("Test")
            if not config_hc or config_hc == ["NONE"]:
                return Check(Verdict.FAILED, f"container {name} has no healthcheck configured")
            health = {"Status": "starting"}
        if health.get("Status") == "healthy":
            return Check(Verdict.MET)
        if health.get("Status") == "unhealthy":
            return Check(Verdict.FAILED, f"container {name} is unhealthy")
        if status in ("exited", "dead"):
            return Check(Verdict.FAILED, f"container {name} exited ({code})")
        return Check(Verdict.WAIT)
    raise ValueError(f"unknown condition {condition}")


def check_ready(name: str, inspect: Mapping, completed_ok: bool = False) -> Check:
    """`up --wait`: running (healthy when it has a healthcheck). A service others wait on with
    `service_completed_successfully` (`completed_ok`) is waited for as they wait for it, as
    Compose does: until it exits, and it must exit 0; it is then shown as `Exited`."""
    state = inspect.get("State") or {}
    status = state.get("Status", "")
    health = (state.get("Health") or {}).get("Status")
    if completed_ok:
        return _completed(name, status, state.get("ExitCode", 0))
    if status in ("exited", "dead"):
        return Check(Verdict.FAILED, f"container {name} exited ({state.get('ExitCode', 0)})")
    if health == "unhealthy":
        return Check(Verdict.FAILED, f"container {name} is unhealthy")
    if status == "running" and health in (None, "", "healthy"):
        return Check(Verdict.MET)
    return Check(Verdict.WAIT)


def _completed(name: str, status: str, code: int) -> Check:
    if status not in ("exited", "dead"):
        return Check(Verdict.WAIT)
    if code == 0:
        return Check(Verdict.MET, status="Exited")
    return Check(Verdict.FAILED, f"container {name} didn't complete successfully: exit {code}")


async def poll(inspect: Callable[[], Awaitable[Mapping]], judge: Callable[[Mapping], Check],
               first: float = 0.02, interval: float = 0.5,
               arm: Callable[[], trio.Event | None] | None = None) -> Check:
    """Re-inspect until `judge` says met (that verdict is returned); raise DependencyError when
    it says failed.

    `arm()` (changes.ContainerChanges.arm) gives an event set when the engine reports a change
    of the container: the next inspect then follows that change at once instead of at the end
    of the current poll delay. It is armed before each inspect, so a change that lands during
    the inspect is not missed."""
    delay = first
    while True:
        woken = arm() if arm is not None else None
        result = judge(await inspect())
        if result.verdict is Verdict.MET:
            return result
        if result.verdict is Verdict.FAILED:
            raise DependencyError(result.message)
        if woken is None:
            await trio.sleep(delay)
        else:
            with trio.move_on_after(delay):
                await woken.wait()
        delay = min(interval, delay * 2)
