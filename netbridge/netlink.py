"""Links, addresses and routes through netlink: the only module that touches pyroute2.

pyroute2 is imported lazily (it costs ~165 ms) and never with its `netns=` option, which forks a
helper per socket. To configure a container's netns we enter it on the *current thread* with
setns(2), open a netlink socket there (the socket stays bound to that netns), and restore the
thread's own netns before doing anything else (see engine-notes P11).

Every function is synchronous and idempotent where that makes sense (create tolerates EEXIST,
delete tolerates ENOENT); netlink errors become `NetlinkFailure` naming the device and netns.
"""
from __future__ import annotations

import ctypes
import errno
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from engine.errors import EngineError

CLONE_NEWNET = 0x40000000
AF_NETLINK = 16
NETLINK_ROUTE = 0
RT_SCOPE_UNIVERSE = 0

_libc = ctypes.CDLL(None, use_errno=True)


class NetlinkFailure(EngineError):
    """A netlink request failed; the message names the device and the netns."""

    def __init__(self, action: str, device: str, netns: str, err: int, detail: str = "") -> None:
        where = f" in netns {netns}" if netns else ""
        reason = detail or os.strerror(err)
        super().__init__(f"cannot {action} {device}{where}: {reason}")
        self.errno = err
        self.device = device


class InterfaceNotFound(NetlinkFailure):
    def __init__(self, device: str, netns: str = "") -> None:
        super().__init__("find interface", device, netns, errno.ENODEV)


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str
    up: bool
    mac: str
    master: int | None


@dataclass(frozen=True)
class Route:
    dst: str        # "10.1.2.0/24"; "default" for 0.0.0.0/0
    dev: int | None


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ipr() -> Any:
    from pyroute2 import IPRoute  # lazy: 165 ms import

    return IPRoute()


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


@contextmanager
def _netlink_errors(action: str, device: str, netns: str = "",
                    ignore: tuple[int, ...] = ()) -> Iterator[None]:
    from pyroute2 import NetlinkError

    try:
        yield
    except NetlinkError as exc:
        if exc.code in ignore:
            return
        raise NetlinkFailure(action, device, netns, exc.code) from None


@contextmanager
def host() -> Iterator[Any]:
    """A netlink socket in the caller's own netns."""
    ipr = _ipr()
    try:
        yield ipr
    finally:
        ipr.close()


@contextmanager
def inside(netns_path: str) -> Iterator[Any]:
    """A netlink socket bound to the netns at `netns_path` (e.g. /proc/PID/ns/net).

    The thread enters the netns only for the socket() call and always returns to the netns it was in.
    """
    from pyroute2 import IPRoute

    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetlinkFailure("open netns", netns_path, "", exc.errno or errno.ENOENT) from None
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    sock = None
    try:
        try:
            _setns(target)
        except OSError as exc:
            raise NetlinkFailure("enter netns", netns_path, "", exc.errno or errno.EINVAL) from None
        try:
            sock = socket.socket(AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        finally:
            _setns(own)  # must never fail silently: the thread would stay in the container
    finally:
        os.close(own)
        os.close(target)
    try:
        ipr = IPRoute(fileno=sock.fileno())
    except BaseException:
        sock.close()
        raise
    sock.detach()  # the IPRoute owns the descriptor from here on and closes it
    try:
        yield ipr
    finally:
        ipr.close()


def _link_from_msg(msg: Any) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else ""
    return Link(
        index=msg["index"],
        name=msg.get_attr("IFLA_IFNAME"),
        kind=kind or "",
        up=bool(msg["flags"] & 1),
        mac=msg.get_attr("IFLA_ADDRESS") or "",
        master=msg.get_attr("IFLA_MASTER"),
    )


def find_link(ipr: Any, name: str) -> Link | None:
    from pyroute2 import NetlinkError

    try:
        msgs = ipr.link("get", ifname=name)
    except NetlinkError as exc:
        if exc.code in (errno.ENODEV, errno.ENOENT):
            return None
        raise NetlinkFailure("look up", name, "", exc.code) from None
    msgs = list(msgs)
    return _link_from_msg(msgs[0]) if msgs else None


def list_links(ipr: Any, prefix: str = "") -> list[Link]:
    links = [_link_from_msg(m) for m in ipr.link("dump")]
    return [link for link in links if link.name.startswith(prefix)]


def ensure_bridge(name: str, address: str, prefixlen: int) -> Link:
    """Create (or reuse) bridge `name`, give it `address/prefixlen`, bring it up."""
    with host() as ipr:
        with _netlink_errors("create bridge", name, ignore=(errno.EEXIST,)):
            ipr.link("add", ifname=name, kind="bridge")
        link = find_link(ipr, name)
        if link is None:
            raise InterfaceNotFound(name)
        if link.kind != "bridge":
            raise NetlinkFailure("create bridge", name, "", errno.EEXIST,
                                 "a non-bridge interface with that name exists")
        with _netlink_errors("address", name, ignore=(errno.EEXIST,)):
            ipr.addr("add", index=link.index, address=address, prefixlen=prefixlen)
        with _netlink_errors("bring up", name):
            ipr.link("set", index=link.index, state="up")
        return find_link(ipr, name) or link


def delete_link(name: str) -> bool:
    """Delete a host link; False if it did not exist."""
    with host() as ipr:
        link = find_link(ipr, name)
        if link is None:
            return False
        with _netlink_errors("delete", name, ignore=(errno.ENODEV, errno.ENOENT)):
            ipr.link("del", index=link.index)
        return True


def list_host_links(prefix: str) -> list[Link]:
    with host() as ipr:
        return list_links(ipr, prefix)


def host_routes_and_addresses() -> list[str]:
    """Every IPv4 prefix routed or addressed on the host, as CIDR strings (IPAM's avoid-list)."""
    out: list[str] = []
    with host() as ipr:
        for msg in ipr.route("dump", family=socket.AF_INET):
            dst = msg.get_attr("RTA_DST")
            if dst is None or msg["dst_len"] == 0:
                continue  # the default route overlaps everything; it is not a conflict
            if msg.get_attr("RTA_TABLE") not in (254, None):
                continue  # only the main table: local/broadcast entries are per-address anyway
            out.append(f"{dst}/{msg['dst_len']}")
        for msg in ipr.addr("dump", family=socket.AF_INET):
            out.append(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
    return out


@dataclass(frozen=True)
class VethResult:
    host_ifname: str
    mac: str


def _bridge(ipr: Any, name: str) -> int:
    link = find_link(ipr, name)
    if link is None or link.kind != "bridge":
        raise InterfaceNotFound(name)
    return link.index


def connect_veth(bridge: str, host_ifname: str, netns_path: str, ifname: str,
                 address: str, prefixlen: int, gateway: str | None, mac: str) -> VethResult:
    """Make a veth pair: host end on `bridge`, peer created in the netns as `ifname` with `address`.

    `gateway` None means no default route (internal networks). A stale host end with the same
    name is replaced. On failure nothing is left behind.
    """
    try:
        ns_fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetlinkFailure("open netns", netns_path, "", exc.errno or errno.ENOENT) from None
    try:
        with host() as ipr:
            master = _bridge(ipr, bridge)
            request = dict(ifname=host_ifname, kind="veth", master=master, state="up",
                           peer={"ifname": ifname, "net_ns_fd": ns_fd, "address": mac})
            from pyroute2 import NetlinkError

            try:
                ipr.link("add", **request)   # one request: create, enslave, up
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise NetlinkFailure("create veth", host_ifname, "", exc.code) from None
                # a stale host end (or `ifname` is taken in the netns): clear ours, retry once
                with _netlink_errors("delete", host_ifname, ignore=(errno.ENODEV,)):
                    ipr.link("del", ifname=host_ifname)
                with _netlink_errors(f"create veth {host_ifname} with peer", ifname, netns_path):
                    ipr.link("add", **request)
            try:
                _configure_inside(netns_path, ifname, address, prefixlen, gateway)
            except BaseException:
                with _netlink_errors("delete", host_ifname, ignore=(errno.ENODEV,)):
                    ipr.link("del", ifname=host_ifname)
                raise
        return VethResult(host_ifname=host_ifname, mac=mac)
    finally:
        os.close(ns_fd)


def _configure_inside(netns_path: str, ifname: str, address: str, prefixlen: int,
                      gateway: str | None) -> None:
    with inside(netns_path) as ipr:
        # lo is ifindex 1 in every netns; setting it up again is harmless
        with _netlink_errors("bring up", "lo", netns_path):
            ipr.link("set", index=1, state="up")
        dev = find_link(ipr, ifname)
        if dev is None:
            raise InterfaceNotFound(ifname, netns_path)
        with _netlink_errors("address", ifname, netns_path, ignore=(errno.EEXIST,)):
            ipr.addr("add", index=dev.index, address=address, prefixlen=prefixlen)
        with _netlink_errors("bring up", ifname, netns_path):
            ipr.link("set", index=dev.index, state="up")
        if gateway:
            # A second network must not replace the first one's default route: EEXIST is fine.
            with _netlink_errors("add default route via", ifname, netns_path,
                                 ignore=(errno.EEXIST,)):
                ipr.route("add", dst="0.0.0.0/0", gateway=gateway, oif=dev.index)


def netns_links(netns_path: str) -> list[Link]:
    with inside(netns_path) as ipr:
        return list_links(ipr)


def set_sysctl(path: str, value: str) -> str | None:
    """Write a /proc/sys value; returns the previous value (None if unreadable)."""
    full = "/proc/sys/" + path.replace(".", "/")
    try:
        with open(full) as f:
            old = f.read().strip()
    except OSError:
        return None
    if old != value:
        with open(full, "w") as f:
            f.write(value)
    return old
