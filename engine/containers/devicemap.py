"""HostConfig.Devices and DeviceCgroupRules (Compose's `devices:`/`device_cgroup_rules:`,
`docker run --device`/`--device-cgroup-rule`): which host devices a container gets as nodes
in its /dev, and what its device cgroup lets it open beyond the default six.

Parsing is pure and done at create; the host paths are read at each start (devices come and
go), where a missing one fails the start naming it.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from engine.errors import BadParameter
from engine.runtime.spec import Device

_RULE = re.compile(r"^[abc] (\*|\d+):(\*|\d+) [rwm]{1,3}$")
_PERMS = re.compile(r"^[rwm]{1,3}$")


@dataclass(frozen=True)
class DeviceMapping:
    host: str          # PathOnHost
    container: str     # PathInContainer (below /dev)
    permissions: str   # CgroupPermissions, some of r, w, m


def parse_devices(raw: object) -> tuple[DeviceMapping, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadParameter("HostConfig.Devices: expected a list of {PathOnHost, "
                           "PathInContainer, CgroupPermissions}")
    out = []
    for i, item in enumerate(raw):
        where = f"HostConfig.Devices[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("PathOnHost"), str):
            raise BadParameter(f"{where}: expected {{PathOnHost, PathInContainer, "
                               "CgroupPermissions}")
        host = item["PathOnHost"]
        inside = item.get("PathInContainer") or host
        perms = item.get("CgroupPermissions") or "rwm"
        if not os.path.isabs(host):
            raise BadParameter(f"{where}: PathOnHost {host!r} must be an absolute path")
        parts = inside.split("/")
        if not inside.startswith("/dev/") or ".." in parts or "" in parts[1:]:
            raise BadParameter(f"{where}: PathInContainer {inside!r} must be a path below /dev")
        if not isinstance(perms, str) or not _PERMS.match(perms):
            raise BadParameter(f"{where}: invalid CgroupPermissions {perms!r} (some of r, w, m)")
        out.append(DeviceMapping(host, inside, perms))
    return tuple(out)


def parse_rules(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise BadParameter("HostConfig.DeviceCgroupRules: expected a list of rules")
    for i, rule in enumerate(raw):
        if not _RULE.match(rule):
            raise BadParameter(f"HostConfig.DeviceCgroupRules[{i}]: invalid device cgroup rule "
                               f"{rule!r} (want e.g. 'c 13:* rwm')")
    return tuple(raw)


def resolve(mappings: tuple[DeviceMapping, ...]) -> tuple[tuple[Device, ...], tuple[str, ...]]:
    """The nodes to make and the cgroup rules that let the container use them, from the host's
    devices as they are now."""
    nodes, rules = [], []
    for m in mappings:
        try:
            st = os.stat(m.host)
        except OSError as e:
            raise BadParameter(f"error gathering device information while adding custom device "
                               f"{m.host!r}: {e.strerror.lower()}") from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise BadParameter(f"error gathering device information while adding custom device "
                               f"{m.host!r}: not a device node")
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        nodes.append(Device(m.container, kind, major, minor, stat.S_IMODE(st.st_mode)))
        rules.append(f"{kind} {major}:{minor} {m.permissions}")
    return tuple(nodes), tuple(rules)
