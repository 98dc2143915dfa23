"""Kubernetes Services: how other pods reach a service by name, and how published ports leave
the cluster.

    <service>             ClusterIP over the ports the file names (ports' targets, expose);
                          headless (DNS to the pods, any port) when it names none. Written
                          for a service others can reach: it has ports or expose, or another
                          service depends on it or links to it, or it is a StatefulSet
    <alias>               the same, once per network alias and link alias
    <service>-published   the published ports, as NodePort or LoadBalancer (--service-type);
                          --service-type ClusterIP publishes nothing outside the cluster
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from compose.kube.context import PUBLISHED_ANNOTATION, Context, Kind, ServiceType
from compose.kube.names import dns_label
from compose.kube.unmapped import Unmapped

if TYPE_CHECKING:
    from compose.model import Service, Port

NODE_PORTS = range(30000, 32768)
_EXPOSE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$")


def _port_name(port: int, protocol: str) -> str:
    return f"{protocol.lower()}-{port}"


def target_ports(service: Service, notes: list[Unmapped]) -> list[tuple[int, str]]:
    """(port, protocol) of every port the file says the service listens on, in order."""
    out: list[tuple[int, str]] = []
    for p in service.ports:
        out.append((int(p.target), p.protocol))
    for i, text in enumerate(service.expose):
        m = _EXPOSE.match(str(text).lower())
        if not m:
            notes.append(Unmapped(service.name, f"expose[{i}]", f"{text!r}: not a port"))
            continue
        first = int(m.group(1))
        last = int(m.group(2) or first)
        out += [(n, m.group(3) or "tcp") for n in range(first, last + 1)]
    seen: set = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def _reached(ctx: Context, name: str) -> bool:
    project = ctx.project
    if ctx.kinds[name] is Kind.STATEFUL_SET:
        return True   # its serviceName
    for other in project.services.values():
        # waiting for a Job to complete is not reaching it
        if any(d.service == name for d in other.depends_on) and ctx.kinds[name] is not Kind.JOB:
            return True
        if any(link.partition(":")[0] == name for link in other.links):
            return True
    return name in ctx.aliases.values()


def _cluster_service(ctx: Context, service: Service, name: str, ports: list[tuple[int, str]]) -> dict:
    spec: dict = {"selector": ctx.selector(service.name)}
    if ports:
        spec["type"] = "ClusterIP"
        spec["ports"] = [{"name": _port_name(p, proto), "port": p, "targetPort": p,
                          "protocol": proto.upper()} for p, proto in ports]
    else:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": ctx.metadata(name, service.name), "spec": spec}


def service_objects(ctx: Context, service: Service, notes: list[Unmapped]) -> list[dict]:
    out = []
    ports = target_ports(service, notes)
    if service.ports or service.expose or _reached(ctx, service.name):
        out.append(_cluster_service(ctx, service, ctx.services[service.name], ports))
        for alias, target in ctx.aliases.items():
            if target == service.name:
                out.append(_cluster_service(ctx, service, alias, ports))
    if any(p.mode != "host" for p in service.ports):
        published = _published_service(ctx, service, notes)
        if published:
            out.append(published)
    return out


def _published_service(ctx: Context, service: Service, notes: list[Unmapped]) -> dict | None:
    kind = ctx.options.service_type
    if kind is ServiceType.CLUSTER_IP:
        notes.append(Unmapped(service.name, "ports", "--service-type ClusterIP: published ports "
                              "are reachable inside the cluster only"))
        return None
    ports = []
    seen: set = set()
    for i, p in enumerate(service.ports):
        if p.mode == "host":
            continue   # a hostPort of the container (pods.py)
        published = int(p.published) if p.published and p.published.isdigit() else None
        port = published or int(p.target)
        if (port, p.protocol) in seen:
            notes.append(Unmapped(service.name, f"ports[{i}]", f"published twice on {port}: "
                                  "one Service port per number"))
            continue
        seen.add((port, p.protocol))
        entry: dict = {"name": _port_name(port, p.protocol), "port": port,
                       "targetPort": int(p.target), "protocol": p.protocol.upper()}
        if kind is ServiceType.NODE_PORT and published is not None:
            if published in NODE_PORTS:
                entry["nodePort"] = published
            else:
                notes.append(Unmapped(service.name, f"ports[{i}]", f"published {published} is "
                                      "outside the NodePort range 30000-32767: the cluster picks "
                                      "the node port"))
        if p.host_ip and p.host_ip not in ("0.0.0.0", "::"):
            notes.append(Unmapped(service.name, f"ports[{i}].host_ip", f"{p.host_ip}: a "
                                  f"{kind.value} Service listens on every node address"))
        ports.append(entry)
    annotation = ",".join(_short_syntax(p) for p in service.ports if p.mode != "host")
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": ctx.metadata(dns_label(f"{ctx.services[service.name]}-published", 63),
                                     service.name, annotations={PUBLISHED_ANNOTATION: annotation}),
            "spec": {"type": kind.value, "selector": ctx.selector(service.name), "ports": ports}}


def _short_syntax(p: Port) -> str:
    """`[host_ip:][published]:target/protocol`, as the compose file would say it."""
    host = f"[{p.host_ip}]:" if p.host_ip and ":" in p.host_ip else \
        f"{p.host_ip}:" if p.host_ip else ""
    if not host and not p.published:
        return f"{p.target}/{p.protocol}"
    return f"{host}{p.published or ''}:{p.target}/{p.protocol}"
