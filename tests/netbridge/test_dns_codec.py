from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from netbridge import dns


def test_query_round_trip():
    q = dns.parse_message(dns.build_query(0x1234, "Web.Example."))
    assert q.id == 0x1234 and not q.is_response
    assert q.questions == (dns.Question("web.example", dns.TYPE_A, dns.CLASS_IN),)


def test_local_name_answers_all_addresses_sorted():
    t = dns.NameTable()
    t.add("a", ["web-1", "web"], "10.231.0.10")
    t.add("b", ["web-2", "web"], "10.231.0.9")
    d = dns.decide(dns.build_query(7, "WEB"), t, can_forward=True)
    reply = dns.parse_message(d.reply)
    assert reply.is_response and reply.id == 7 and reply.rcode == dns.RCODE_OK
    assert reply.addresses() == ["10.231.0.9", "10.231.0.10"]
    assert reply.flags & 0x0400  # authoritative
    assert reply.answers[0][0] == "web"  # compression pointer resolves to the question name


def test_removed_endpoint_leaves_the_name_at_once():
    t = dns.NameTable()
    t.add("a", ["db"], "10.231.0.2")
    t.remove("a")
    assert t.lookup("db") == []
    assert dns.decide(dns.build_query(1, "db"), t, can_forward=True).forward


def test_known_name_other_type_is_empty_noerror():
    t = dns.NameTable()
    t.add("a", ["db"], "10.231.0.2")
    reply = dns.parse_message(dns.decide(dns.build_query(1, "db", dns.TYPE_AAAA), t,
                                         can_forward=True).reply)
    assert reply.rcode == dns.RCODE_OK and reply.answers == ()


def test_unknown_name_without_forwarding_is_servfail():
    d = dns.decide(dns.build_query(9, "deb.debian.org"), dns.NameTable(), can_forward=False)
    assert dns.parse_message(d.reply).rcode == dns.RCODE_SERVFAIL


def test_garbage_gets_formerr_or_nothing():
    assert dns.decide(b"\x00", dns.NameTable(), can_forward=True).reply is None
    bad = struct.pack("!HHHHHH", 5, 0x0100, 1, 0, 0, 0) + b"\x05ab"
    reply = dns.decide(bad, dns.NameTable(), can_forward=True).reply
    assert reply[:2] == b"\x00\x05" and reply[3] & 0xF == dns.RCODE_FORMERR


def test_responses_are_never_answered():
    q = dns.parse_message(dns.build_query(3, "x"))
    assert dns.decide(dns.build_response(q, 0), dns.NameTable(), can_forward=True).reply is None


def test_compression_loop_is_rejected():
    data = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(dns.DnsFormatError, match="loop"):
        dns.parse_message(data)


def test_resolvers_from_resolv_conf(tmp_path):
    f = tmp_path / "resolv.conf"
    f.write_text("# c\nsearch x\nnameserver 10.255.255.53\nnameserver bogus\nnameserver ::1\n")
    assert dns.host_resolvers(f) == ["10.255.255.53", "::1"]
    assert dns.host_resolvers(tmp_path / "missing") == []


@given(st.binary(max_size=300))
def test_decide_never_raises_on_arbitrary_input(data):
    dns.decide(data, dns.NameTable(), can_forward=False)


label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


@given(st.lists(label, min_size=1, max_size=5), st.integers(0, 0xFFFF))
def test_names_round_trip(labels, ident):
    name = ".".join(labels)
    assert dns.parse_message(dns.build_query(ident, name)).questions[0].name == name


def test_big_udp_answers_are_truncated_for_a_tcp_retry():
    t = dns.NameTable()
    for i in range(60):
        t.add(f"ep{i}", ["web"], f"10.231.0.{i + 2}")
    full = dns.decide(dns.build_query(11, "web"), t, can_forward=False).reply
    assert len(dns.parse_message(full).addresses()) == 60 and len(full) > 512
    cut = dns.truncate_for_udp(full)
    msg = dns.parse_message(cut)
    assert msg.flags & 0x0200 and msg.answers == () and msg.id == 11
    assert msg.questions[0].name == "web"
    small = dns.build_response(dns.parse_message(dns.build_query(1, "x")), 0, ["10.0.0.1"])
    assert dns.truncate_for_udp(small) == small
