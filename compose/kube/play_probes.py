"""A container's probes as one compose healthcheck.

Compose has one healthcheck per container and nothing restarts a container that fails it, so:
the readiness probe is the healthcheck (else the liveness probe, else the startup probe), and a
liveness probe that differs from it is listed as not enforced.

The kubelet runs httpGet and tcpSocket probes from outside the container; a healthcheck runs
inside it, so those two become shell commands that use what the image has: httpGet tries
`wget`, then `curl`; tcpSocket tries `nc -z`, then a plain `nc` connect, then bash's /dev/tcp.
An image with none of them (or without /bin/sh) reports unhealthy: use an exec probe there.
The address is 127.0.0.1: the probe runs in the pod's network namespace. A startup probe
beside another becomes the healthcheck's start period, probed at its own period.
"""
from __future__ import annotations

import shlex
from collections.abc import Callable

from compose.kube.play_fields import ManifestError
from compose.kube.play_pods import Container, Probe


def healthcheck(container: Container, ports: dict[str, int], where: str,
                warn: Callable[[str], None]) -> dict | None:
    """The compose `healthcheck` of `container` (None: it has no probe). `ports` maps the
    pod's named container ports to numbers (probes may name a port)."""
    chosen = container.readiness or container.liveness or container.startup
    if chosen is None:
        return None
    if container.liveness is not None and container.liveness != chosen:
        warn(f"{where}: livenessProbe: a container failing it is not restarted by kube play "
             "(the readinessProbe is its healthcheck)")
    if chosen is container.liveness and container.readiness is None:
        warn(f"{where}: livenessProbe: kube play reports a failing container as unhealthy; it "
             "does not restart it")
    check = {"test": probe_test(chosen, ports, where),
             "interval": f"{chosen.period}s", "timeout": f"{chosen.timeout}s",
             "retries": chosen.failure_threshold, "start_period": f"{chosen.initial_delay}s"}
    startup = container.startup
    if startup is not None and startup is not chosen:
        # The startup probe holds the others back, probing every `period`, for at most
        # period x failureThreshold: what a start period probed every start_interval does.
        window = startup.initial_delay + startup.period * startup.failure_threshold
        check["start_period"] = f"{window}s"
        check["start_interval"] = f"{startup.period}s"
    return check


def probe_test(probe: Probe, ports: dict[str, int], where: str) -> list[str]:
    if probe.handler == "exec":
        return ["CMD", *probe.command]
    port = _port_number(probe.port, ports, where)
    if probe.handler == "httpGet":
        url = shlex.quote(f"{probe.scheme.lower()}://127.0.0.1:{port}{probe.path}")
        insecure_wget = " --no-check-certificate" if probe.scheme == "HTTPS" else ""
        insecure_curl = " -k" if probe.scheme == "HTTPS" else ""
        return ["CMD-SHELL", f"wget -q{insecure_wget} -O /dev/null {url} 2>/dev/null || "
                             f"curl -fsS{insecure_curl} -o /dev/null {url}"]
    return ["CMD-SHELL", f"nc -z -w 1 127.0.0.1 {port} 2>/dev/null || "
                         f"nc -w 1 127.0.0.1 {port} </dev/null >/dev/null 2>&1 || "
                         f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null"]


def _port_number(port: int | str | None, ports: dict[str, int], where: str) -> int:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    if port in ports:
        return ports[port]
    raise ManifestError(f"{where}: probe port {port!r} names no port of the pod's containers")
