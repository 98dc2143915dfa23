"""Links, addresses and routes through netlink: the only module that touches pyroute2.

Two layers: pyroute2 for the rare, richer operations (link dumps after a crash, a netns's
links), imported lazily (it costs ~165 ms) and never with its `netns=` option, which forks a
helper per socket; and `RawRoute`, a few hand-encoded rtnetlink messages for everything on the
network-create and per-container paths (bridge, veth, address, route, link up, delete, the
route/address dump IPAM needs), which is ~5x faster than going through pyroute2 and keeps its
import off those paths.

To configure a container's netns we enter it on the *current thread* with setns(2), open a
netlink socket there (the socket stays bound to that netns), and restore the thread's own netns
before doing anything else (pyroute2 0.9's own `netns=` forks a helper process per socket, and
`IPRoute(fileno=)` wants a SOCK_DGRAM netlink socket).

Every function is synchronous and idempotent where that makes sense (create tolerates EEXIST,
delete tolerates ENOENT); netlink errors become `NetlinkFailure` naming the device and netns.
"""
from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import HostFailure

CLONE_NEWNET = 0x40000000
AF_NETLINK = 16
NETLINK_ROUTE = 0
RT_SCOPE_UNIVERSE = 0

_libc = ctypes.CDLL(None, use_errno=True)


class NetlinkFailure(HostFailure):
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


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ipr() -> Any:
    from pyroute2 import IPRoute  # lazy: 165 ms import

    return IPRoute()


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


def _socket_in(netns_path: str) -> socket.socket:
    """A NETLINK_ROUTE socket bound to the netns at `netns_path` (e.g. /proc/PID/ns/net).

    The thread enters the netns only for the socket() call and always returns to the netns it
    was in; the socket stays in the target netns (a socket belongs to the netns it was made in).
    """
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetlinkFailure("open netns", netns_path, "", exc.errno or errno.ENOENT) from None
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            _setns(target)
        except OSError as exc:
            raise NetlinkFailure("enter netns", netns_path, "", exc.errno or errno.EINVAL) from None
        try:
            return socket.socket(AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        finally:
            _setns(own)  # must never fail silently: the thread would stay in the container
    finally:
        os.close(own)
        os.close(target)


@contextmanager
def inside(netns_path: str) -> Iterator[Any]:
    """A pyroute2 IPRoute bound to the netns at `netns_path`."""
    from pyroute2 import IPRoute

    sock = _socket_in(netns_path)
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


def ensure_bridge(name: str, address: str, prefixlen: int) -> None:
    """Create (or reuse) bridge `name`, give it `address/prefixlen`, bring it up.

    Raw rtnetlink: the first network of a daemon would otherwise pay pyroute2's import.
    """
    with RawRoute.open() as nl:
        try:
            nl.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                       _ifinfo() + _attr(IFLA_IFNAME, name.encode() + b"\0")
                       + _attr(IFLA_LINKINFO | NLA_F_NESTED, _attr(IFLA_INFO_KIND, b"bridge")),
                       ("create bridge", name))
        except NetlinkFailure as exc:
            if exc.errno != errno.EEXIST:
                raise
        index, kind = nl.link_index(name)
        if kind != "bridge":
            raise NetlinkFailure("create bridge", name, "", errno.EEXIST,
                                 "a non-bridge interface with that name exists")
        try:
            nl.add_address(index, name, address, prefixlen)
        except NetlinkFailure as exc:
            if exc.errno != errno.EEXIST:
                raise
        nl.set_up(index, name)


def delete_link(name: str) -> bool:
    """Delete a host link (a veth takes its peer along); False if it did not exist."""
    with RawRoute.open() as nl:
        return nl.delete(name)


def list_host_links(prefix: str) -> list[Link]:
    with host() as ipr:
        return list_links(ipr, prefix)


def host_routes_and_addresses() -> list[str]:
    """Every IPv4 prefix routed or addressed on the host, as CIDR strings (IPAM's avoid-list)."""
    out: list[str] = []
    with RawRoute.open() as nl:
        dump = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        for msg in nl.request(RTM_GETROUTE, NLM_F_DUMP, dump, ("list routes", "")):
            dst_len, table = msg[1], msg[4]
            attrs = _attrs(msg[12:])
            if RTA_TABLE in attrs:
                (table,) = struct.unpack("=I", attrs[RTA_TABLE][:4])
            if RTA_DST not in attrs or dst_len == 0:
                continue  # the default route overlaps everything; it is not a conflict
            if table != RT_TABLE_MAIN:
                continue  # only the main table: local/broadcast entries are per-address anyway
            out.append(f"{socket.inet_ntoa(attrs[RTA_DST][:4])}/{dst_len}")
        dump = struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)
        for msg in nl.request(RTM_GETADDR, NLM_F_DUMP, dump, ("list addresses", "")):
            attrs = _attrs(msg[8:])
            if IFA_ADDRESS in attrs:
                out.append(f"{socket.inet_ntoa(attrs[IFA_ADDRESS][:4])}/{msg[1]}")
    return out


@dataclass(frozen=True)
class VethResult:
    host_ifname: str
    mac: str


# --- per-container hot path: raw rtnetlink ----------------------------------------------------
#
# pyroute2 costs ~1 ms of Python per request (it runs an asyncio loop per call); a container
# connect needs ~8 requests. These few messages are simple enough to encode by hand, which
# brings a connect from ~10 ms to ~2 ms and keeps pyroute2 (and its 165 ms import) off that path.

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 20, 22, 24, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLM_F_DUMP = 0x300
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
IFF_UP = 0x1
NLA_F_NESTED = 0x8000
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    flags = IFF_UP if up else 0
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, IFF_UP if up else 0)


def _attrs(data: bytes) -> dict[int, bytes]:
    out = {}
    while len(data) >= 4:
        length, kind = struct.unpack("=HH", data[:4])
        if length < 4:
            break
        out[kind & ~NLA_F_NESTED] = data[4:length]
        data = data[(length + 3) & ~3:]
    return out


class RawRoute:
    """Just enough rtnetlink for a container connect, over one socket (host or a netns)."""

    def __init__(self, sock: socket.socket, netns: str = "") -> None:
        self.sock = sock
        self.netns = netns
        self.seq = 0

    @classmethod
    def open(cls, netns_path: str | None = None) -> RawRoute:
        if netns_path is None:
            return cls(socket.socket(AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE))
        return cls(_socket_in(netns_path), netns_path)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawRoute:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, body: bytes, what: tuple[str, str]) -> list[bytes]:
        """Send one request; returns the payloads of the replies; errno → NetlinkFailure."""
        self.seq += 1
        seq = self.seq
        header = struct.pack("=IHHII", 16 + len(body), msg_type,
                             flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0)
        self.sock.send(header + body)
        replies: list[bytes] = []
        while True:
            data = self.sock.recv(65536)
            while len(data) >= 16:
                length, rtype, _flags, rseq, _pid = struct.unpack("=IHHII", data[:16])
                payload, data = data[16:length], data[(length + 3) & ~3:]
                if rseq != seq:
                    continue
                if rtype == NLMSG_ERROR:
                    (err,) = struct.unpack("=i", payload[:4])
                    if err:
                        raise NetlinkFailure(what[0], what[1], self.netns, -err)
                    return replies
                if rtype == NLMSG_DONE:
                    return replies
                replies.append(payload)

    def link_index(self, name: str) -> tuple[int, str]:
        """(ifindex, kind) of link `name`; InterfaceNotFound if there is none."""
        try:
            (reply,) = self.request(RTM_GETLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, name.encode()
                                                                      + b"\0"),
                                    ("look up", name))
        except NetlinkFailure as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT):
                raise InterfaceNotFound(name, self.netns) from None
            raise
        (index,) = struct.unpack("=i", reply[4:8])
        info = _attrs(_attrs(reply[16:]).get(IFLA_LINKINFO, b""))
        return index, info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode()

    def add_veth(self, name: str, master: int, peer: str, peer_netns_fd: int, peer_mac: str) -> None:
        """Host end `name` enslaved to `master` and up; the peer made in another netns."""
        peer_msg = (_ifinfo() + _attr(IFLA_IFNAME, peer.encode() + b"\0")
                    + _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
                    + _attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", ""))))
        linkinfo = (_attr(IFLA_INFO_KIND, b"veth")
                    + _attr(IFLA_INFO_DATA | NLA_F_NESTED,
                            _attr(VETH_INFO_PEER | NLA_F_NESTED, peer_msg)))
        body = (_ifinfo(up=True) + _attr(IFLA_IFNAME, name.encode() + b"\0")
                + _attr(IFLA_MASTER, struct.pack("=I", master))
                + _attr(IFLA_LINKINFO | NLA_F_NESTED, linkinfo))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, ("create veth", name))

    def delete(self, name: str) -> bool:
        try:
            self.request(RTM_DELLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, name.encode() + b"\0"),
                         ("delete", name))
            return True
        except NetlinkFailure as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT):
                return False
            raise

    def set_up(self, index: int, name: str) -> None:
        self.request(RTM_NEWLINK, 0, _ifinfo(index, up=True), ("bring up", name))

    def add_address(self, index: int, name: str, address: str, prefixlen: int) -> None:
        packed = socket.inet_aton(address)
        body = (struct.pack("=BBBBI", socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
                + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed))
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, ("address", name))

    def add_default_route(self, index: int, name: str, gateway: str) -> None:
        body = (struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                            RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                + _attr(RTA_GATEWAY, socket.inet_aton(gateway))
                + _attr(RTA_OIF, struct.pack("=I", index)))
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body,
                     ("add default route via", name))


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
        with RawRoute.open() as nl:
            master, kind = nl.link_index(bridge)
            if kind != "bridge":
                raise InterfaceNotFound(bridge)
            try:
                nl.add_veth(host_ifname, master, ifname, ns_fd, mac)  # create, enslave, up
            except NetlinkFailure as exc:
                if exc.errno != errno.EEXIST:
                    raise
                # a stale host end (or `ifname` is taken in the netns): clear ours, retry once
                nl.delete(host_ifname)
                try:
                    nl.add_veth(host_ifname, master, ifname, ns_fd, mac)
                except NetlinkFailure as again:
                    raise NetlinkFailure(f"create veth {host_ifname} with peer", ifname,
                                         netns_path, again.errno) from None
            try:
                _set_hairpin(host_ifname)
                _configure_inside(netns_path, ifname, address, prefixlen, gateway)
            except BaseException:
                nl.delete(host_ifname)
                raise
        return VethResult(host_ifname=host_ifname, mac=mac)
    finally:
        os.close(ns_fd)


def _set_hairpin(host_ifname: str) -> None:
    """Let the bridge send a frame back out of the port it came in on: a container reaching its
    own published port through the host address is DNAT'd back to itself (bridge netfilter)."""
    try:
        with open(f"/sys/class/net/{host_ifname}/brport/hairpin_mode", "w") as f:
            f.write("1")
    except OSError as exc:
        raise NetlinkFailure("set hairpin mode on", host_ifname, "", exc.errno or errno.EIO) from None


def _configure_inside(netns_path: str, ifname: str, address: str, prefixlen: int,
                      gateway: str | None) -> None:
    with RawRoute.open(netns_path) as nl:
        nl.set_up(1, "lo")   # lo is ifindex 1 in every netns; setting it up again is harmless
        index, _ = nl.link_index(ifname)
        try:
            nl.add_address(index, ifname, address, prefixlen)
        except NetlinkFailure as exc:
            if exc.errno != errno.EEXIST:
                raise
        nl.set_up(index, ifname)
        if gateway:
            try:
                nl.add_default_route(index, ifname, gateway)
            except NetlinkFailure as exc:
                # a second network must not replace the first one's default route
                if exc.errno != errno.EEXIST:
                    raise


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
