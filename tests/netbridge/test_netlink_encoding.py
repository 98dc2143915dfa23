"""The hand-encoded rtnetlink attributes (pure)."""
from __future__ import annotations

import struct

from netbridge import netlink


def test_attributes_are_padded_and_parse_back():
    raw = netlink._attr(netlink.IFLA_IFNAME, b"eth0\0") + netlink._attr(netlink.IFLA_MASTER,
                                                                         struct.pack("=I", 7))
    assert len(raw) % 4 == 0 and len(raw) == 12 + 8   # 4+5 padded to 12, then 4+4
    parsed = netlink._attrs(raw)
    assert parsed[netlink.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", parsed[netlink.IFLA_MASTER]) == (7,)


def test_nested_flag_is_ignored_when_parsing():
    inner = netlink._attr(netlink.IFLA_INFO_KIND, b"bridge")
    outer = netlink._attr(netlink.IFLA_LINKINFO | netlink.NLA_F_NESTED, inner)
    info = netlink._attrs(netlink._attrs(outer)[netlink.IFLA_LINKINFO])
    assert info[netlink.IFLA_INFO_KIND] == b"bridge"


def test_ifinfo_header_carries_index_and_up_flag():
    family, _type, index, flags, change = struct.unpack("=BxHiII", netlink._ifinfo(5, up=True))
    assert (family, index, flags, change) == (0, 5, netlink.IFF_UP, netlink.IFF_UP)
    assert struct.unpack("=BxHiII", netlink._ifinfo())[3:] == (0, 0)
