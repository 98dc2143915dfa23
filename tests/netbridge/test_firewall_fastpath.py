"""The manager adds and removes rules without reading the tables when its own state says what
exists, and falls back to reading them when the state is wrong (root, real iptables)."""
from __future__ import annotations

import subprocess

import pytest

from netbridge import firewall

pytestmark = pytest.mark.integration
READ = firewall.save   # the tests' own reads, not counted as the manager's


def ours(m, containers=()) -> list[str]:
    """Every rule in or jumping to a chain of this manager, sorted."""
    words = {m.chains.forward, m.chains.postrouting, m.chains.dnat, m.chains.input}
    words |= {firewall.network_chain(n.id) for n in m.list()}
    words |= {firewall.port_chain(c) for c in containers}
    return sorted(ln for ln in firewall.tagged_lines(READ()) if words & set(ln.split()))


def expected(m, ports: dict) -> list[str]:
    rules = firewall.base_rules(m.chains)
    for n in m.list():
        rules += firewall.network_rules(m.chains, n.id, n.bridge, n.subnet, n.internal)
    for cid, bindings in ports.items():
        rules += firewall.port_rules(m.chains, cid, bindings)
    return sorted(r.line() for r in rules)


def count_saves(monkeypatch) -> list[int]:
    calls = [0]
    real = firewall.save

    def save():
        calls[0] += 1
        return real()
    monkeypatch.setattr(firewall, "save", save)
    return calls


def test_create_publish_remove_without_reading_tables(harness, make_netns, monkeypatch):
    m = harness.manager
    saves = count_saves(monkeypatch)
    a = m.create("fa")   # a fresh state: the base rules are known to be absent
    b = m.create("fb", internal=True)
    ns = make_netns()
    cid = "e" * 64
    m.connect("fa", cid, ns.path, container_name="x")
    first = m.publish(cid, ["18301:80"])
    more = m.publish(cid, ["18302:81/udp"])
    assert saves[0] == 0
    assert ours(m, [cid]) == expected(m, {cid: first + more})
    m.unpublish(cid)
    m.disconnect("fa", cid)
    assert ours(m, [cid]) == expected(m, {})
    m.remove(b.id)
    m.remove(a.id)
    assert saves[0] == 0
    assert ours(m) == []


def test_state_that_disagrees_with_the_tables_is_healed(harness):
    m = harness.manager
    a = m.create("ha")
    # someone deletes our base jump and chains behind our back
    base = firewall.base_rules(m.chains)
    firewall.remove(base + firewall.network_rules(m.chains, a.id, a.bridge, a.subnet, False))
    assert ours(m) == []
    b = m.create("hb")               # the fast path fails; the read path re-applies the base
    assert ours(m) == [ln for ln in expected(m, {})
                       if firewall.network_chain(a.id) not in ln.split()]
    m.remove(a.id)                   # its rules are gone already: the read path removes nothing
    # a duplicated jump (two engines' worth) makes the blind drop fail; all copies still go
    fwd = firewall.base_rules(m.chains)[0]
    subprocess.run(["iptables", "-w", "-I", "FORWARD", *fwd.args], check=True)
    m.remove(b.id)
    assert ours(m) == []
    assert fwd.line() not in READ().splitlines()


def test_after_a_crash_the_first_network_reads_the_tables_once(tmp_path, clean_host,
                                                                monkeypatch):
    from .conftest import ManagerHarness

    first = ManagerHarness(tmp_path / "state")
    try:
        first.manager.create("ca")
        first.stop()   # like a crash: rules and bridge stay, the state says `live`
        again = ManagerHarness(tmp_path / "state")
        try:
            saves = count_saves(monkeypatch)
            m = again.manager
            m.create("cb")
            assert saves[0] == 1    # base rules may exist: read, never duplicate a jump
            m.create("cc")
            assert saves[0] == 1
            assert ours(m) == expected(m, {})
        finally:
            again.teardown()
    finally:
        first.teardown()
