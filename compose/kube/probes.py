"""A compose healthcheck as readiness, liveness and startup probes.

Readiness is what `service_healthy` waits for (and what a Service routes by). Liveness
restarts a container that stays unhealthy, as Swarm does and Compose does not (documented in
docs/kubernetes.md). The start period becomes a startup probe that runs every start_interval
and tolerates failures for as long as the start period lasts, holding the other two back.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from compose.kube.context import seconds
from compose.kube.unmapped import Unmapped

if TYPE_CHECKING:
    from compose.model import Service

# Compose's defaults, written out: Kubernetes' own (10 s period, 1 s timeout) differ.
_INTERVAL = 30_000_000_000
_TIMEOUT = 30_000_000_000
_RETRIES = 3
_START_INTERVAL = 5_000_000_000


def probes(service: Service, notes: list[Unmapped]) -> dict[str, dict]:
    """`readinessProbe`, `livenessProbe` and maybe `startupProbe` for the container, or {}."""
    check = service.healthcheck
    if check is None or check.disable:
        return {}
    test = tuple(check.test or ())
    if not test:
        notes.append(Unmapped(service.name, "healthcheck", "the test comes from the image: "
                              "Kubernetes does not run an image's HEALTHCHECK"))
        return {}
    if test[0] == "NONE":
        return {}
    if test[0] == "CMD":
        command = list(test[1:])
    elif test[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", " ".join(test[1:])]
    else:   # a bare list is run as CMD (normalize writes CMD-SHELL for a string)
        command = list(test)

    def secs(ns: int | None, default: int, key: str) -> int:
        value, rounded = seconds(default if ns is None else ns)
        if rounded:
            notes.append(Unmapped(service.name, f"healthcheck.{key}", f"rounded up to {value}s: "
                                  "Kubernetes probes count whole seconds"))
        return value

    period = secs(check.interval_ns, _INTERVAL, "interval")
    timeout = secs(check.timeout_ns, _TIMEOUT, "timeout")
    retries = max(1, check.retries if check.retries is not None else _RETRIES)

    def probe(every: int, threshold: int) -> dict:
        # a fresh dict each: shared ones would come out of YAML as anchors and aliases
        return {"exec": {"command": list(command)}, "timeoutSeconds": timeout,
                "periodSeconds": every, "failureThreshold": threshold}

    out = {"readinessProbe": probe(period, retries), "livenessProbe": probe(period, retries)}
    start_period = check.start_period_ns or 0
    if start_period > 0:
        every = secs(check.start_interval_ns, _START_INTERVAL, "start_interval")
        tries = math.ceil(start_period / (every * 1_000_000_000))
        out["startupProbe"] = probe(every, tries + retries)
    return out
