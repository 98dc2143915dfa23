"""The embedded DNS server of a network: our own small wire codec (pure) and a trio server.

A server listens on the network's gateway address, port 53, UDP and TCP. It answers A queries for
the names of endpoints on its network (container name, short id, aliases; a name shared by several
endpoints returns all their addresses) and forwards everything else to the host's resolvers. The
forwarder runs in the host's netns, so it can use any resolver the host can (even a loopback stub);
if none answers, the client gets SERVFAIL. Internal networks never forward.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import trio

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_OK, RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_NOTIMP = 0, 1, 2, 3, 4
TTL = 5                   # short: names come and go with containers
UPSTREAM_TIMEOUT = 2.0    # seconds per upstream server


class DnsFormatError(ValueError):
    pass


# --- codec (pure) ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    name: str       # lower case, no trailing dot
    qtype: int
    qclass: int


@dataclass(frozen=True)
class Message:
    id: int
    flags: int
    questions: tuple[Question, ...]
    answers: tuple[tuple[str, int, int, bytes], ...] = ()   # (name, type, ttl, rdata)
    question_bytes: bytes = b""                              # raw question section

    @property
    def is_response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    def addresses(self) -> list[str]:
        return [socket.inet_ntoa(rdata) for _, t, _, rdata in self.answers if t == TYPE_A]


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """Decode a (possibly compressed) name at `offset`; returns (name, offset after it)."""
    labels: list[str] = []
    end = None
    seen = 0
    while True:
        if offset >= len(data):
            raise DnsFormatError("name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsFormatError("truncated compression pointer")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            seen += 1
            if seen > 64:
                raise DnsFormatError("compression pointer loop")
            continue
        if length & 0xC0:
            raise DnsFormatError("unsupported label type")
        offset += 1
        if length == 0:
            break
        label = data[offset:offset + length]
        if len(label) != length:
            raise DnsFormatError("truncated label")
        labels.append(label.decode("ascii", "replace").lower())
        offset += length
    name = ".".join(labels)
    if len(name) > 253:
        raise DnsFormatError("name too long")
    return name, end if end is not None else offset


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if not label:
            continue
        raw = label.encode("ascii")
        if len(raw) > 63:
            raise DnsFormatError(f"label too long in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def parse_message(data: bytes) -> Message:
    if len(data) < 12:
        raise DnsFormatError("message shorter than its header")
    ident, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    offset = 12
    questions = []
    for _ in range(qd):
        name, offset = _read_name(data, offset)
        if offset + 4 > len(data):
            raise DnsFormatError("truncated question")
        qtype, qclass = struct.unpack("!HH", data[offset:offset + 4])
        offset += 4
        questions.append(Question(name, qtype, qclass))
    qbytes = data[12:offset]
    answers = []
    for _ in range(an):
        name, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise DnsFormatError("truncated answer")
        rtype, _rclass, ttl, rdlen = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + rdlen]
        if len(rdata) != rdlen:
            raise DnsFormatError("truncated answer data")
        offset += rdlen
        answers.append((name, rtype, ttl, rdata))
    return Message(ident, flags, tuple(questions), tuple(answers), qbytes)


def build_query(ident: int, name: str, qtype: int = TYPE_A, *, recursion: bool = True) -> bytes:
    flags = 0x0100 if recursion else 0
    return (struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0)
            + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN))


def build_response(query: Message, rcode: int, addresses: list[str] = (),
                   *, authoritative: bool = True) -> bytes:
    """An answer to `query` (its first question) with A records for `addresses`."""
    flags = 0x8000 | (query.opcode << 11) | (query.flags & 0x0100) | 0x0080 | rcode
    if authoritative:
        flags |= 0x0400
    qd = 1 if query.questions else 0
    header = struct.pack("!HHHHHH", query.id, flags, qd, len(addresses), 0, 0)
    body = query.question_bytes if qd else b""
    for addr in addresses:
        # 0xC00C points at the question's name, right after the 12-byte header
        body += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + socket.inet_aton(addr)
    return header + body


def build_error(data: bytes, rcode: int) -> bytes | None:
    """A bare error reply for a message we could not parse (None if not even the id is there)."""
    if len(data) < 2:
        return None
    return data[:2] + struct.pack("!HHHHH", 0x8000 | rcode, 0, 0, 0, 0)


def truncate_for_udp(reply: bytes, limit: int = 512) -> bytes:
    """Replies too big for plain UDP become header + question with TC set: clients retry on TCP."""
    if len(reply) <= limit:
        return reply
    msg = parse_message(reply)
    ident, flags = struct.unpack("!HH", reply[:4])
    qd = len(msg.questions)
    return struct.pack("!HHHHHH", ident, flags | 0x0200, qd, 0, 0, 0) + msg.question_bytes


# --- names (shared with the manager's threads) ----------------------------------------------

class NameTable:
    """name → addresses of the endpoints that carry it, on one network. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[str, tuple[tuple[str, ...], str]] = {}

    def add(self, endpoint: str, names: list[str] | tuple[str, ...], address: str) -> None:
        clean = tuple(sorted({n.lower().rstrip(".") for n in names if n}))
        with self._lock:
            self._by_endpoint[endpoint] = (clean, address)

    def remove(self, endpoint: str) -> None:
        with self._lock:
            self._by_endpoint.pop(endpoint, None)

    def lookup(self, name: str) -> list[str]:
        name = name.lower().rstrip(".")
        with self._lock:
            found = {addr for names, addr in self._by_endpoint.values() if name in names}
        return sorted(found, key=ipaddress.IPv4Address)

    def __contains__(self, name: str) -> bool:
        return bool(self.lookup(name))


@dataclass(frozen=True)
class Decision:
    reply: bytes | None        # answer now with this, or
    forward: bool = False      # hand the query to the upstream resolvers


def decide(data: bytes, table: NameTable, *, can_forward: bool,
           also: Sequence[NameTable] = (), links: Mapping[str, str] | None = None) -> Decision:
    """What to do with one query. Pure apart from reading the tables: `table` (the server's
    network) first, then `also` (the asking container's other networks), first match wins.
    `links` (the asking container's link aliases → target names) renames before the lookup."""
    try:
        msg = parse_message(data)
    except DnsFormatError:
        return Decision(build_error(data, RCODE_FORMERR))
    if msg.is_response:
        return Decision(None)  # never answer answers
    if msg.opcode != 0 or len(msg.questions) != 1:
        return Decision(build_response(msg, RCODE_NOTIMP, authoritative=False))
    q = msg.questions[0]
    addresses: list[str] = []
    if q.qclass == CLASS_IN:
        name = links.get(q.name, q.name) if links else q.name
        for each in (table, *also):
            addresses = each.lookup(name)
            if addresses:
                break
    if addresses:
        if q.qtype == TYPE_A:
            return Decision(build_response(msg, RCODE_OK, addresses))
        return Decision(build_response(msg, RCODE_OK))  # the name exists; no records of this type
    if can_forward:
        return Decision(None, forward=True)
    return Decision(build_response(msg, RCODE_SERVFAIL, authoritative=False))


def host_resolvers(resolv_conf: str | Path = "/etc/resolv.conf") -> list[str]:
    try:
        text = Path(resolv_conf).read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                ipaddress.ip_address(parts[1])
            except ValueError:
                continue
            out.append(parts[1])
    return out


# --- server (side effects) ------------------------------------------------------------------

def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def _forward_udp(data: bytes, upstreams: list[str]) -> bytes | None:
    for server in upstreams:
        sock = trio.socket.socket(_family(server), socket.SOCK_DGRAM)
        with sock:
            try:
                await sock.connect((server, 53))
                await sock.send(data)
                with trio.move_on_after(UPSTREAM_TIMEOUT):
                    while True:
                        reply = await sock.recv(65535)
                        if reply[:2] == data[:2]:
                            return reply
            except OSError:
                continue
    return None


async def _recv_exact(stream: trio.abc.ReceiveStream, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = await stream.receive_some(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


async def _forward_tcp(data: bytes, upstreams: list[str]) -> bytes | None:
    for server in upstreams:
        try:
            with trio.move_on_after(UPSTREAM_TIMEOUT):
                stream = await trio.open_tcp_stream(server, 53)
                async with stream:
                    await stream.send_all(struct.pack("!H", len(data)) + data)
                    (length,) = struct.unpack("!H", await _recv_exact(stream, 2))
                    return await _recv_exact(stream, length)
        except (OSError, EOFError, trio.BrokenResourceError):
            continue
    return None


@dataclass
class DnsServer:
    """One network's DNS server; `serve` binds, reports started, answers until cancelled."""
    address: str
    table: NameTable
    can_forward: bool
    upstreams: list[str] = field(default_factory=host_resolvers)
    port: int = 53
    # a client's address → the name tables of its container's other networks (a container
    # has one resolver, its first network's, yet resolves names on every network it is on)
    # and its link aliases
    peer_scope: Callable[[str], tuple[list[NameTable], dict[str, str]]] | None = None

    def _decide(self, data: bytes, peer: str) -> Decision:
        also, links = self.peer_scope(peer) if self.peer_scope is not None else ([], {})
        return decide(data, self.table, can_forward=self.can_forward, also=also, links=links)

    async def _resolve(self, data: bytes, tcp: bool, peer: str) -> bytes | None:
        d = self._decide(data, peer)
        if not d.forward:
            return d.reply
        reply = await (_forward_tcp if tcp else _forward_udp)(data, self.upstreams)
        if reply is None:
            msg = parse_message(data)
            reply = build_response(msg, RCODE_SERVFAIL, authoritative=False)
        return reply

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        udp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with udp, tcp:
            for s in (udp, tcp):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                # IP_FREEBIND: the bridge address may still be settling after a restart
                s.setsockopt(socket.IPPROTO_IP, 15, 1)
                await s.bind((self.address, self.port))
            tcp.listen(64)
            listener = trio.SocketListener(tcp)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._udp_loop, udp, nursery)
                nursery.start_soon(trio.serve_listeners, self._tcp_conn, [listener])
                task_status.started()

    async def _udp_loop(self, sock: trio.socket.SocketType, nursery: trio.Nursery) -> None:
        while True:
            try:
                data, peer = await sock.recvfrom(65535)
            except OSError:
                continue  # e.g. ECONNREFUSED from an earlier reply's ICMP
            d = self._decide(data, peer[0])
            if d.forward:
                nursery.start_soon(self._udp_forward, sock, data, peer)
            elif d.reply is not None:
                await self._sendto(sock, truncate_for_udp(d.reply), peer)

    async def _udp_forward(self, sock: trio.socket.SocketType, data: bytes, peer) -> None:
        reply = await self._resolve(data, tcp=False, peer=peer[0])
        if reply is not None:
            await self._sendto(sock, reply, peer)

    @staticmethod
    async def _sendto(sock: trio.socket.SocketType, data: bytes, peer) -> None:
        try:
            await sock.sendto(data, peer)
        except OSError:
            pass  # the client went away; nothing to tell it

    async def _tcp_conn(self, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                peer = stream.socket.getpeername()[0]
            except OSError:
                return
            try:
                with trio.fail_after(10):
                    while True:
                        (length,) = struct.unpack("!H", await _recv_exact(stream, 2))
                        data = await _recv_exact(stream, length)
                        reply = await self._resolve(data, tcp=True, peer=peer)
                        if reply is None:
                            return
                        await stream.send_all(struct.pack("!H", len(reply)) + reply)
            except (EOFError, trio.BrokenResourceError, trio.TooSlowError, DnsFormatError):
                return
