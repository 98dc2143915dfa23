"""A service's pod spec: its one container, the init containers that wait for its
dependencies, its volumes and files, and the pod-wide settings (host namespaces, DNS, hosts,
sysctls, groups, platform, grace period, `init`).

`init: true` becomes shareProcessNamespace: the pod's pause process is then PID 1, reaps
zombies and leaves the service's process with default signal handling, which is what Compose's
init gives it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from compose.kube.containers import container
from compose.kube.context import Context, seconds
from compose.kube.files import file_mounts
from compose.kube.service_objects import target_ports
from compose.kube.unmapped import Unmapped
from compose.kube.volumes import pod_volumes
from compose.kube.waits import account_name, wait_containers

if TYPE_CHECKING:
    from compose.model import Service


def pod_spec(ctx: Context, service: Service, notes: list[Unmapped]) -> dict:
    main = container(ctx, service, notes)
    volumes, mounts = pod_volumes(ctx, service, notes)
    more_volumes, more_mounts = file_mounts(ctx, service, notes)
    volumes += more_volumes
    mounts += more_mounts
    if mounts:
        main["volumeMounts"] = mounts
    ports = target_ports(service, notes)
    if ports:
        # informational in Kubernetes, but what `kubectl port-forward` and readers go by
        main["ports"] = [{"containerPort": p, "protocol": proto.upper()} for p, proto in ports]
        for host in _host_ports(service):
            # onto the port's own entry: a second entry for one container port is a duplicate
            plain = [e for e in main["ports"] if "hostPort" not in e and
                     (e["containerPort"], e["protocol"]) == (host["containerPort"], host["protocol"])]
            if plain:
                plain[0].update(host)
            else:
                main["ports"].append(host)
    spec: dict = {}
    waits = wait_containers(ctx, service, notes)
    if waits:
        spec["serviceAccountName"] = account_name(ctx)
        spec["initContainers"] = waits
    spec["containers"] = [main]
    if volumes:
        spec["volumes"] = volumes
    spec.update(_namespaces(service, notes))
    spec.update(_naming(service, notes))
    spec.update(_pod_security(service, notes))
    if service.init:
        spec["shareProcessNamespace"] = True
    if service.stop_grace_period_ns is not None:
        spec["terminationGracePeriodSeconds"], _ = seconds(service.stop_grace_period_ns)
    if service.platform:
        spec["nodeSelector"] = _platform(service, notes)
    if service.stop_signal:
        # lifecycle.stopSignal is accepted only with the pod's OS stated
        spec["os"] = {"name": "linux"}
    return spec


def _host_ports(service: Service) -> list[dict]:
    """`mode: host` ports: published on the node the pod runs on, as Swarm does, which is a
    container's hostPort (the other ports go through a Service, service_objects.py)."""
    out = []
    for p in service.ports:
        if p.mode != "host" or not (p.published and p.published.isdigit()):
            continue
        entry = {"containerPort": int(p.target), "protocol": p.protocol.upper(),
                 "hostPort": int(p.published)}
        if p.host_ip:
            entry["hostIP"] = p.host_ip
        out.append(entry)
    return out


def _namespaces(service: Service, notes: list[Unmapped]) -> dict:
    out: dict = {}
    mode = service.network_mode
    if mode == "host":
        out["hostNetwork"] = True
    elif mode and mode != "bridge":
        notes.append(Unmapped(service.name, "network_mode", f"{mode!r}: a pod has its own "
                              "network namespace (containers sharing one belong in one pod)"))
    for key, field in (("ipc", "hostIPC"), ("pid", "hostPID")):
        value = getattr(service, key)
        if value == "host":
            out[field] = True
        elif value and not (key == "ipc" and value in ("private", "shareable")):
            notes.append(Unmapped(service.name, key, f"{value!r}: only 'host' has a pod "
                                  "counterpart"))
    for net in service.networks:
        for attr in ("ipv4_address", "ipv6_address", "mac_address"):
            if getattr(net, attr):
                notes.append(Unmapped(service.name, f"networks.{net.network}.{attr}",
                                      "pod addresses are assigned by the cluster's network"))
    if service.mac_address:
        notes.append(Unmapped(service.name, "mac_address", "pod addresses are assigned by the "
                              "cluster's network"))
    return out


def _naming(service: Service, notes: list[Unmapped]) -> dict:
    from compose.kube.names import is_dns_label

    out: dict = {}
    if service.hostname:
        if is_dns_label(service.hostname.lower(), 63) and "." not in service.hostname:
            out["hostname"] = service.hostname.lower()
        else:
            notes.append(Unmapped(service.name, "hostname", f"{service.hostname!r} is not a "
                                  "DNS label, which a pod's hostname must be"))
    if service.domainname:
        notes.append(Unmapped(service.name, "domainname", "a pod's domain follows from its "
                              "subdomain Service, not a setting"))
    if service.container_name:
        notes.append(Unmapped(service.name, "container_name", "pod names are made by the "
                              "workload controller"))
    hosts: dict[str, list[str]] = {}
    for i, entry in enumerate(service.extra_hosts):
        name, ip = _host_entry(entry)
        if ip is None or ip == "host-gateway":
            notes.append(Unmapped(service.name, f"extra_hosts[{i}]", f"{entry!r}: no node "
                                  "address to put in a pod's /etc/hosts"))
            continue
        hosts.setdefault(ip, []).append(name)
    if hosts:
        out["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in hosts.items()]
    dns: dict = {}
    if service.dns:
        dns["nameservers"] = list(service.dns)
    if service.dns_search:
        dns["searches"] = list(service.dns_search)
    if service.dns_opt:
        dns["options"] = [_dns_option(o) for o in service.dns_opt]
    if dns:
        out["dnsConfig"] = dns
    return out


def _host_entry(entry: str) -> tuple[str, str | None]:
    # canonical extra_hosts are "name=ip" or "name:ip" (an IPv6 address has colons itself)
    if "=" in entry:
        name, _, ip = entry.partition("=")
    else:
        name, _, ip = entry.partition(":")
    ip = ip.strip("[]")
    return name, ip or None


def _dns_option(text: str) -> dict:
    name, sep, value = text.partition(":")
    return {"name": name, "value": value} if sep else {"name": name}


def _pod_security(service: Service, notes: list[Unmapped]) -> dict:
    security: dict = {}
    groups = []
    for i, g in enumerate(service.group_add):
        if str(g).isdigit():
            groups.append(int(g))
        else:
            notes.append(Unmapped(service.name, f"group_add[{i}]", f"{g!r}: Kubernetes takes "
                                  "numeric group ids only"))
    if groups:
        security["supplementalGroups"] = groups
    if service.sysctls:
        security["sysctls"] = [{"name": k, "value": str(v)} for k, v in service.sysctls.items()]
    return {"securityContext": security} if security else {}


def _platform(service: Service, notes: list[Unmapped]) -> dict:
    parts = service.platform.split("/")
    out = {"kubernetes.io/os": parts[0]}
    if len(parts) > 1:
        out["kubernetes.io/arch"] = parts[1]
    if len(parts) > 2:
        notes.append(Unmapped(service.name, "platform", f"variant {parts[2]!r}: nodes are "
                              "labelled with os and arch only"))
    return out
